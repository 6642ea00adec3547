// base/files.cpp: see files.h. POSIX calls for the fsync of atomic writes.
#include "base/files.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>
#include <system_error>

#include "base/error.h"

namespace melodl {
namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) { return std::system_category().message(err); }

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw IoError("cannot write " + path.string() + ": " + what);
}

std::atomic<unsigned> g_temp_counter{0};

// When this process started (static initialisation), for remove_stale_temp_files.
const fs::file_time_type g_process_start = fs::file_time_type::clock::now();

// The pid in ".<name>.tmp-<pid>-<n>" or ".<name>.probe<pid>"; 0 when `name` is neither.
long temp_file_pid(const std::string& name) {
  if (name.size() < 2 || name[0] != '.') return 0;
  const auto digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  std::string_view pid_text;
  if (const auto t = name.rfind(".tmp-"); t != std::string::npos && t > 1) {
    const std::string_view rest = std::string_view(name).substr(t + 5);
    const auto dash = rest.find('-');
    if (dash == std::string_view::npos || !digits(rest.substr(dash + 1))) return 0;
    pid_text = rest.substr(0, dash);
  } else if (const auto p = name.rfind(".probe"); p != std::string::npos && p > 1) {
    pid_text = std::string_view(name).substr(p + 6);
  } else {
    return 0;
  }
  long pid = 0;
  if (!digits(pid_text) ||
      std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid).ec != std::errc() ||
      pid <= 0)
    return 0;
  return pid;
}

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

}  // namespace

AtomicFile::AtomicFile(fs::path target, unsigned mode, CancelCheck cancel)
    : target_(std::move(target)), cancel_(std::move(cancel)) {
  if (target_.empty()) throw IoError("cannot write: empty output path");
  std::error_code ec;
  if (fs::is_directory(target_, ec)) fail(target_, "is a directory");
  const fs::path dir = target_.parent_path();
  if (!dir.empty()) {
    fs::create_directories(dir, ec);
    if (ec) fail(target_, "cannot create " + dir.string() + ": " + ec.message());
  }
  // Unique name in the same folder, so rename() stays on one file system. Built with += :
  // GCC 12 reports a false -Wrestrict on `"." + std::string`.
  std::string name(".");
  name += target_.filename().string();
  name += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(g_temp_counter++);
  temp_ = dir.empty() ? fs::path(name) : dir / name;
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd_ < 0) fail(target_, errno_text(errno));
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (fd_ >= 0) ::close(fd_);
  ::unlink(temp_.c_str());
}

void AtomicFile::check_cancel() {
  if (!cancel_ || !cancel_()) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(temp_.c_str());
  throw WriteCancelled(
      "writing " + target_.string() + " abandoned (cancelled); " +
      (fs::exists(target_) ? "the existing file is unchanged" : "no file was written"));
}

// Starts writeback of the full chunks written since the last call and waits for the ones
// before them, so dirty pages never pile up for commit's fsync (which cannot be cancelled):
// a large file is mostly on disk when its last chunk is written. Linux only; a file system
// that does not support it is left to fsync.
void AtomicFile::start_writeback() {
#ifdef __linux__
  const std::size_t end = written_ - written_ % kWriteChunk;
  if (end <= flushed_) return;
  ::sync_file_range(fd_, static_cast<off_t>(flushed_), static_cast<off_t>(end - flushed_),
                    SYNC_FILE_RANGE_WRITE);
  if (flushed_ > waited_)  // the chunks started last time: wait until they are on disk
    ::sync_file_range(
        fd_, static_cast<off_t>(waited_), static_cast<off_t>(flushed_ - waited_),
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  waited_ = flushed_;
  flushed_ = end;
#endif
}

void AtomicFile::write(std::string_view bytes) {
  if (fd_ < 0) fail(target_, "write after commit");
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    check_cancel();
    // Up to the next chunk boundary of the file, so writeback goes chunk by chunk.
    const std::size_t step = std::min(left, kWriteChunk - written_ % kWriteChunk);
    std::size_t chunk_left = step;
    while (chunk_left > 0) {
      const ssize_t n = ::write(fd_, p, chunk_left);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(target_, "write failed: " + errno_text(errno));
      }
      p += n;
      chunk_left -= static_cast<std::size_t>(n);
    }
    left -= step;
    written_ += step;
    start_writeback();
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) fail(target_, "commit twice");
  check_cancel();
  if (::fsync(fd_) != 0) fail(target_, "fsync failed: " + errno_text(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail(target_, "close failed: " + errno_text(errno));
  if (::rename(temp_.c_str(), target_.c_str()) != 0)
    fail(target_, "rename failed: " + errno_text(errno));
  committed_ = true;
  // Make the rename durable. The new file is in place; a folder that cannot be synced on a
  // file system without directory fsync (EINVAL) is fine, any other failure is reported.
  const fs::path dir = target_.parent_path();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail(target_, "written, but its folder cannot be opened: " + errno_text(errno));
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL)
    fail(target_, "written, but fsync of its folder failed: " + errno_text(err));
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

std::string read_text_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw IoError("cannot read " + path.string() + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open " + path.string() + ": " + errno_text(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IoError("cannot read " + path.string());
  return ss.str();
}

void ensure_directory(const fs::path& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw IoError("cannot create directory " + dir.string() + ": " +
                  (ec ? ec.message() : std::string("a file of that name exists")));
  }
}

void check_writable(const fs::path& path) {
  if (path.empty()) throw IoError("cannot write: empty output path");
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(path, "is a directory");
  const fs::path dir = path.parent_path();
  if (!dir.empty()) {
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir))
      fail(path,
           "cannot create directory " + dir.string() + (ec ? ": " + ec.message() : std::string()));
  }
  std::string probe_name(".");
  probe_name += path.filename().string();
  probe_name += ".probe" + std::to_string(::getpid());
  const fs::path probe = (dir.empty() ? fs::path(".") : dir) / probe_name;
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, errno_text(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

std::vector<fs::path> remove_stale_temp_files(const fs::path& dir) {
  std::vector<fs::path> removed;
  std::error_code ec;
  fs::directory_iterator it(dir.empty() ? fs::path(".") : dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (!it->is_regular_file(fec)) continue;
    const long pid = temp_file_pid(it->path().filename().string());
    if (pid == 0) continue;
    bool stale = !process_alive(pid);
    if (!stale && pid == static_cast<long>(::getpid())) {
      const auto when = fs::last_write_time(it->path(), fec);
      // File times come from the kernel's coarse clock, which can lag the process's own
      // clock by a tick: only a file a full second older than this process is a
      // predecessor's (one just written by this process can look a few ms "older").
      stale = !fec && when + std::chrono::seconds(1) < g_process_start;
    }
    if (stale && fs::remove(it->path(), fec)) removed.push_back(it->path());
  }
  return removed;
}

fs::path with_stem_suffix(const fs::path& path, std::string_view suffix) {
  fs::path out = path;
  out.replace_filename(path.stem().string() + std::string(suffix) + path.extension().string());
  return out;
}

}  // namespace melodl
