// encode/melody_song.h: a symbolic melody as a playable midi::Song (one track, one
// instrument, PPQ timing, one tempo), for `melodl render` and the subcommands that
// play back what a network composed (compose, train samples).
//
// Example:
//   encode::MelodySongOptions o;  o.program = 40;  o.start_pitch = 67;
//   melodl::midi::Song song = encode::melody_to_song(decoded.melody, o);
//   melodl::midi::write_file("violin.mid", song);
#pragma once

#include <string>

#include "encode/melody.h"
#include "midi/model.h"

namespace melodl::encode {

struct MelodySongOptions {
  int program = 0;               // General MIDI program 0..127 (0 = acoustic grand piano)
  int start_pitch = 60;          // MIDI pitch of the first note
  double ticks_per_unit = 60.0;  // one duration unit; 60 at 480 PPQ = a 32nd note
  double bpm = 100.0;
  int ppq = 480;
  int velocity = 90;
  std::string name;  // track name, may be empty
};

midi::Song melody_to_song(const encode::SymbolMelody& melody, const MelodySongOptions& options);

}  // namespace melodl::encode
