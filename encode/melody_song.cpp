// encode/melody_song.cpp: see melody_song.h.
#include "encode/melody_song.h"

#include <algorithm>
#include <cstdint>

#include "midi/writer.h"

namespace melodl::encode {

midi::Song melody_to_song(const encode::SymbolMelody& melody, const MelodySongOptions& options) {
  midi::Song song = midi::make_song(options.ppq, options.bpm);
  encode::RenderOptions r;
  r.start_pitch = std::clamp(options.start_pitch, 0, 127);
  r.ticks_per_unit = options.ticks_per_unit;
  r.velocity = std::clamp(options.velocity, 1, 127);
  midi::Track track;
  track.name = options.name;
  midi::ProgramChange pc;
  pc.program = static_cast<std::uint8_t>(std::clamp(options.program, 0, 127));
  track.programs.push_back(pc);
  track.notes = encode::to_notes(melody, r);
  for (auto& n : track.notes) {
    n.start_s = song.tick_to_seconds(n.start_tick);
    n.end_s = song.tick_to_seconds(n.end_tick);
    track.end_tick = std::max(track.end_tick, n.end_tick);
  }
  song.end_tick = track.end_tick;
  song.duration_s = song.tick_to_seconds(song.end_tick);
  song.tracks.push_back(std::move(track));
  return song;
}

}  // namespace melodl::encode
