// midi/writer.h: write a Song as a format-1 Standard MIDI File (the bytes libsmf 1.3
// wrote, laid out by melodl in linear time). The file is written to a temporary file in
// the same directory and renamed into place, so a reader never sees half a file.
//
// Example:
//   melodl::midi::Song song = melodl::midi::make_song(480, 120.0);
//   song.tracks.push_back(track_with_notes);   // program changes go in Track::programs
//   melodl::midi::write_file("out.mid", song); // throws WriteError on failure
#pragma once

#include <filesystem>
#include <string>

#include "base/error.h"
#include "midi/model.h"

namespace melodl::midi {

// Every failure of write_file: a song an SMF cannot store (bad pitch, tick, division) or a
// path that cannot be written. A melodl::Error (base/error.h); the message names the path.
class WriteError : public ::melodl::Error {
 public:
  using ::melodl::Error::Error;
};

// A song with PPQ division, one tempo at tick 0 and 4/4 time, and no tracks.
Song make_song(int ppq = 480, double bpm = 120.0);

// Writes format 1: a conductor track (tempo map, time signatures) then one track per
// Song track (its name, program changes, notes). Ticks are used; seconds ignored.
// Throws WriteError naming the path and the problem.
void write_file(const std::filesystem::path& path, const Song& song);

}  // namespace melodl::midi
