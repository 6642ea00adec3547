// examples/fs_util.cpp: see fs_util.h. POSIX calls for the fsync of atomic writes.
#include "examples/fs_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <system_error>

#include "examples/cli_error.h"

namespace melodl::cli {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string errno_text(int err) { return std::system_category().message(err); }

// Writes all of content to fd, retrying short writes and EINTR.
bool write_all(int fd, std::string_view content) {
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool has_midi_extension(const fs::path& path) {
  const std::string ext = lower(path.extension().string());
  return ext == ".mid" || ext == ".midi" || ext == ".rmi" || ext == ".kar";
}

std::vector<fs::path> find_midi_files(const std::vector<std::string>& inputs) {
  std::vector<fs::path> out;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    fs::path key = fs::weakly_canonical(p, ec);
    if (ec) key = p;
    if (seen.insert(key).second) out.push_back(p);
  };
  for (const std::string& input : inputs) {
    const fs::path root(input);
    std::error_code ec;
    const fs::file_status st = fs::status(root, ec);
    if (ec || !fs::exists(st)) throw Error("no such file or directory: " + input);
    if (!fs::is_directory(st)) {
      add(root);
      continue;
    }
    std::vector<fs::path> found;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    if (ec) throw Error("cannot read directory " + input + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) throw Error("cannot read directory " + input + ": " + ec.message());
      std::error_code fec;
      if (it->is_regular_file(fec) && has_midi_extension(it->path())) found.push_back(it->path());
    }
    if (ec) throw Error("cannot read directory " + input + ": " + ec.message());
    // Byte-wise order of the generic form: the same on every machine and locale.
    std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
      return a.generic_string() < b.generic_string();
    });
    for (const auto& p : found) add(p);
  }
  return out;
}

std::string read_text_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error("cannot read " + path.string() + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path.string() + ": " + errno_text(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error("cannot read " + path.string());
  return ss.str();
}

void ensure_directory(const fs::path& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw Error("cannot create directory " + dir.string() + ": " +
                (ec ? ec.message() : std::string("a file of that name exists")));
  }
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  if (path.empty()) throw Error("empty output path");
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error("cannot write " + path.string() + ": is a directory");
  const fs::path dir = path.parent_path();
  if (!dir.empty()) {
    fs::create_directories(dir, ec);
    if (ec)
      throw Error("cannot write " + path.string() + ": cannot create " + dir.string() + ": " +
                  ec.message());
  }
  // Unique name in the same directory so rename() stays on one file system.
  std::random_device rd;
  // Built with += : GCC 12 reports a false -Wrestrict on `"." + std::string`.
  std::string tmp_name(".");
  tmp_name += path.filename().string();
  tmp_name += ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
  const fs::path tmp = dir.empty() ? fs::path(tmp_name) : dir / tmp_name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write " + path.string() + ": " + errno_text(errno));
  auto fail = [&](const std::string& what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error("cannot write " + path.string() + ": " + what + ": " + errno_text(err));
  };
  if (!write_all(fd, content)) fail("write failed", errno);
  if (::fsync(fd) != 0) fail("fsync failed", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error("cannot write " + path.string() + ": close failed: " + errno_text(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error("cannot write " + path.string() + ": rename failed: " + errno_text(err));
  }
  // Make the rename itself durable (best effort: some file systems refuse it).
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void check_writable(const fs::path& path) {
  if (path.empty()) throw Error("empty output path");
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error("cannot write " + path.string() + ": is a directory");
  const fs::path dir = path.parent_path();
  if (!dir.empty()) {
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir))
      throw Error("cannot write " + path.string() + ": cannot create directory " + dir.string() +
                  (ec ? ": " + ec.message() : std::string()));
  }
  std::string probe_name(".");
  probe_name += path.filename().string();
  probe_name += ".probe" + std::to_string(::getpid());
  const fs::path probe = (dir.empty() ? fs::path(".") : dir) / probe_name;
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write " + path.string() + ": " + errno_text(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

fs::path with_stem_suffix(const fs::path& path, std::string_view suffix) {
  fs::path out = path;
  out.replace_filename(path.stem().string() + std::string(suffix) + path.extension().string());
  return out;
}

}  // namespace melodl::cli
