// midi/model.h: the plain note model every melodl module works on.
// A Song is what a Standard MIDI File means musically: tracks of paired notes
// (start and end in ticks and in seconds through the tempo map), program changes,
// the tempo and time-signature maps and the division. No libsmf, GLib or CUDA here.
//
// Example:
//   auto song = melodl::midi::read_file("bwv772.mid");   // midi/reader.h
//   if (!song) { std::cerr << song.error().what() << "\n"; return 1; }
//   for (const auto& tr : song->tracks) for (const auto& n : tr.notes) use(n.pitch, n.start_s);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace melodl::midi {

// One sounding note, after note-on/note-off pairing.
struct Note {
  std::uint8_t channel = 0;    // 0..15 (9 = General MIDI percussion)
  std::uint8_t pitch = 60;     // MIDI key number 0..127
  std::uint8_t velocity = 64;  // note-on velocity 1..127
  std::int64_t start_tick = 0;
  std::int64_t end_tick = 0;  // > start_tick for notes read from files
  double start_s = 0.0;       // through the tempo map
  double end_s = 0.0;
};

struct ProgramChange {
  std::int64_t tick = 0;
  double seconds = 0.0;
  std::uint8_t channel = 0;
  std::uint8_t program = 0;  // General MIDI program 0..127
};

struct TempoChange {
  std::int64_t tick = 0;
  double seconds = 0.0;                   // time at which it takes effect
  std::uint32_t us_per_quarter = 500000;  // 120 bpm
};

struct TimeSignature {
  std::int64_t tick = 0;
  std::uint8_t numerator = 4;
  std::uint8_t denominator = 4;  // the actual denominator (4 = quarter), not its log2
  std::uint8_t clocks_per_click = 24;
  std::uint8_t notated_32nds_per_quarter = 8;
};

// Header division: ticks per quarter note (PPQ) or SMPTE frames x ticks per frame.
struct Division {
  bool smpte = false;
  std::uint16_t ppq = 480;             // valid when !smpte
  std::uint8_t frames_per_second = 0;  // 24, 25, 29 (29.97 drop-frame) or 30, when smpte
  std::uint8_t ticks_per_frame = 0;    // when smpte
};

struct Track {
  std::string name;                     // from the first track-name meta event, if any
  std::vector<Note> notes;              // sorted by (start_tick, pitch, channel)
  std::vector<ProgramChange> programs;  // in file order
  std::int64_t end_tick = 0;            // tick of End-of-Track (or the last event)
};

struct Song {
  std::string source;  // file path or a caller-given name
  int format = 1;      // SMF format 0, 1 or 2 (format 2 tracks are laid end to end)
  Division division;
  std::vector<Track> tracks;
  std::vector<TempoChange> tempo_map;          // sorted; always starts at tick 0
  std::vector<TimeSignature> time_signatures;  // sorted
  std::int64_t end_tick = 0;                   // max over tracks
  double duration_s = 0.0;
  // Problems the reader tolerated (missing End-of-Track, fewer tracks than declared,
  // trailing bytes, ...), one human-readable line each. Empty for clean files.
  std::vector<std::string> warnings;

  // Seconds at an absolute tick, through the tempo map (or SMPTE timing).
  double tick_to_seconds(std::int64_t tick) const;
  // Number of notes over all tracks.
  std::size_t note_count() const;
};

}  // namespace melodl::midi
