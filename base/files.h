// base/files.h: the file helpers every module shares: reading a whole file, creating output
// folders, and THE atomic writer (a temporary file beside the target, every byte written,
// fsync, close, rename over the target, fsync of the folder), so an interrupted or failed
// run never leaves half a file where a finished one was. Every error is an IoError naming
// the path and the system's reason; a failed write removes its temporary file.
//
// Example:
//   melodl::write_file_atomic("out/melodies.txt", text);
//   melodl::AtomicFile f("model.bin");           // for writers that stream or need a path
//   f.write(header);  f.write(body);  f.commit(); // not committed: the target is untouched
//   melodl::AtomicFile g("big.bin", 0644, [&] { return stop_requested.load(); });
//   g.write(gigabytes);  // throws WriteCancelled within one chunk once the check says so
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace melodl {

// Polled by AtomicFile between the chunks of a write (every kWriteChunk bytes) and before its
// commit: true abandons the write (a signal handler's flag, a user's "cancel").
using CancelCheck = std::function<bool()>;

// Thrown by AtomicFile when its CancelCheck said so: the temporary file is already removed
// and the target is as it was. An IoError, so callers that treat every write failure alike
// need no change; callers that stop on purpose catch it first.
class WriteCancelled : public IoError {
 public:
  using IoError::IoError;
};

// Bytes AtomicFile::write hands to the system at a time: the most a cancelled write goes on
// writing after the check turns true, and the step at which the file's pages are pushed to
// disk as the write goes (so that commit's fsync stays short for large files).
inline constexpr std::size_t kWriteChunk = std::size_t{1} << 20;

class AtomicFile {
 public:
  // Creates the temporary file (".<name>.tmp-<pid>-<n>", mode `mode` less the umask) beside
  // `target`, creating missing parent folders. Throws IoError. `cancel` (optional) is polled
  // by write() before each chunk and by commit() before its fsync; when it returns true the
  // temporary file is removed and WriteCancelled is thrown.
  explicit AtomicFile(std::filesystem::path target, unsigned mode = 0644, CancelCheck cancel = {});
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Not committed: closes and removes the temporary file; the target stays as it was.
  ~AtomicFile();

  // Appends every byte in chunks of kWriteChunk (short writes and EINTR retried; on Linux
  // each full chunk's pages are sent to disk as the next is written). Throws IoError, or
  // WriteCancelled when the cancel check returns true.
  void write(std::string_view bytes);
  // fsync and close the temporary file (both checked), rename it over the target, then fsync
  // the folder (checked, except where the file system does not support it). Throws IoError
  // (WriteCancelled when the cancel check returns true before the fsync); before the rename
  // the target is untouched.
  void commit();

  // For writers that write through a path of their own (libsmf's smf_save): they write the
  // temporary file, then commit() makes their bytes durable and moves them into place.
  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& target() const { return target_; }

 private:
  std::filesystem::path target_, temp_;
  CancelCheck cancel_;
  int fd_ = -1;
  bool committed_ = false;
  // Bytes written; the end of those whose writeback was started; of those known on disk.
  std::size_t written_ = 0, flushed_ = 0, waited_ = 0;

  void check_cancel();  // removes the temporary file and throws WriteCancelled when asked
  void start_writeback();
};

// Writes content to path atomically (AtomicFile). Throws IoError naming the path.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// Whole file as bytes; throws IoError naming the path.
std::string read_text_file(const std::filesystem::path& path);

// Creates a folder (and parents) for outputs; throws IoError naming it.
void ensure_directory(const std::filesystem::path& dir);

// Fails early, before hours of work, when `path` cannot be written: creates its parent
// folders and a scratch file beside it. Throws IoError naming the path.
void check_writable(const std::filesystem::path& path);

// Removes the temporary files that AtomicFile and check_writable leave behind when a process
// is killed (".<name>.tmp-<pid>-<n>", ".<name>.probe<pid>") from `dir` (not its subfolders):
// those whose <pid> is not a live process, and those of this process's own pid that are older
// than this process (a previous holder of the pid). Files of other live processes are kept (a
// concurrent writer may own them). Returns the paths removed; a folder that does not exist or
// cannot be listed removes nothing. Never throws.
std::vector<std::filesystem::path> remove_stale_temp_files(const std::filesystem::path& dir);

// "out/melodies.txt" -> "out/melodies-valid.txt" (suffix before the extension).
std::filesystem::path with_stem_suffix(const std::filesystem::path& path, std::string_view suffix);

}  // namespace melodl
