// examples/fs_util.h: file-system helpers of the melodl program: finding MIDI files
// under the paths a user gives (recursive, deterministic order), reading text files,
// and writing outputs atomically (temp file in the same directory, fsync, rename),
// so an interrupted run never leaves half a file where a finished one was.
//
// Example:
//   auto files = melodl::cli::find_midi_files({"data/bach"});   // sorted, *.mid etc.
//   melodl::cli::write_file_atomic("out/melodies.txt", text);   // throws cli::Error
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace melodl::cli {

// True for *.mid, *.midi, *.rmi, *.kar (case-insensitive).
bool has_midi_extension(const std::filesystem::path& path);

// Expands the inputs: a file is taken as given (whatever its extension), a directory
// contributes every MIDI file below it (recursive, by has_midi_extension). Each
// directory's files are sorted by path; inputs keep their order; duplicates (same
// canonical path) are dropped. Throws cli::Error naming a path that does not exist
// or a directory that cannot be read.
std::vector<std::filesystem::path> find_midi_files(const std::vector<std::string>& inputs);

// Whole file as bytes in a string; throws cli::Error naming the path.
std::string read_text_file(const std::filesystem::path& path);

// Writes content to path atomically: a temporary file in the same directory, fsync,
// rename over path. Creates missing parent directories. Throws cli::Error naming the
// path and the system error; the temporary file is removed on failure.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// "out/melodies.txt" -> "out/melodies-valid.txt" (suffix before the extension).
std::filesystem::path with_stem_suffix(const std::filesystem::path& path, std::string_view suffix);

// Fails early, before hours of work, when `path` cannot be written: creates its
// parent directories and a scratch file beside it. Throws cli::Error naming the path.
void check_writable(const std::filesystem::path& path);

// Creates a directory (and parents) for outputs; throws cli::Error naming it.
void ensure_directory(const std::filesystem::path& dir);

}  // namespace melodl::cli
