// midi/files.h: finding the MIDI files under the paths a user gives: recursive,
// deterministic order, duplicates dropped.
//
// Example:
//   auto files = melodl::midi::find_midi_files({"data/bach"});   // sorted, *.mid etc.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace melodl::midi {

// True for *.mid, *.midi, *.rmi, *.kar (case-insensitive).
bool has_midi_extension(const std::filesystem::path& path);

// Expands the inputs: a file is taken as given (whatever its extension), a directory
// contributes every MIDI file below it (recursive, by has_midi_extension). Each
// directory's files are sorted by path; inputs keep their order; duplicates (same
// canonical path) are dropped. Throws IoError naming a path that does not exist or a
// directory that cannot be read.
std::vector<std::filesystem::path> find_midi_files(const std::vector<std::string>& inputs);

}  // namespace melodl::midi
