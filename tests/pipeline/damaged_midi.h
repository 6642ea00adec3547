// tests/pipeline/damaged_midi.h: a valid one-track melody file and copies of it damaged in
// the ways real collections are (docs/midi.md, "Recovery"), for the tests of extraction and
// of the melodl program in recover and strict mode. Built with tests/midi/smf_builder.h, so
// each damage sits at a known byte and the notes to expect are known.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/midi/smf_builder.h"

namespace melodl::damaged_midi {

using midi::test::Bytes;

inline constexpr std::size_t kNotes = 24;  // notes of the valid melody
inline constexpr std::uint16_t kPpq = 480;

// Byte offsets in valid(): the first note-on's delta time (after MThd, the MTrk header and
// the tempo event 00 FF 51 03 tt tt tt), and the bytes of one note (00 9c kk vv, 83 60 8c kk vv).
inline constexpr std::size_t kFirstNote = 14 + 8 + 7;
inline constexpr std::size_t kNoteBytes = 9;

// Pitches of the melody: a scale up and down, so it passes extraction's filters.
inline int pitch(std::size_t i) {
  static constexpr int kScale[] = {60, 62, 64, 65, 67, 69, 71, 72, 74, 72, 71, 69,
                                   67, 65, 64, 62, 60, 64, 67, 72, 67, 64, 62, 60};
  return kScale[i % kNotes];
}

// The track: tempo, then kNotes quarter notes; `damage_after` (when < kNotes) is called after
// note `damage_after`'s note-off to add bad bytes; End-of-Track unless `eot` is false.
template <class Damage>
midi::test::TrackBytes melody_track(std::size_t damage_after, Damage damage, bool eot = true) {
  midi::test::TrackBytes t;
  t.tempo(0, 500000);
  for (std::size_t i = 0; i < kNotes; ++i) {
    t.on(0, 0, pitch(i), 90).off(kPpq, 0, pitch(i));
    if (i == damage_after) damage(t);
  }
  if (eot) t.eot();
  return t;
}

inline Bytes file_of(const midi::test::TrackBytes& track, int declared_tracks = 1) {
  return midi::test::SmfBytes(1, declared_tracks, kPpq).track(track).bytes();
}

inline Bytes valid() {
  return file_of(melody_track(kNotes, [](auto&) {}));
}

// Damaged copies, with the notes that recover mode keeps.
struct Damaged {
  std::string name;  // file name, e.g. "truncated.mid"
  Bytes bytes;
  std::size_t notes = 0;      // notes recover mode reads
  bool strict_reads = false;  // the defect is tolerated in strict mode too
  std::string kind;           // the repair kind recover mode reports first (midi::repair_kind_name)
};

inline std::vector<Damaged> damaged_files() {
  std::vector<Damaged> out;
  // Cut in note 16's note-on (before its velocity): 16 complete notes, the rest lost.
  Bytes cut = valid();
  cut.resize(kFirstNote + 16 * kNoteBytes + 3);
  out.push_back({"truncated.mid", cut, 16, false, "chunk_past_end"});
  // A velocity of 0xC0 (> 127) in note 5's note-on: clipped to 127, in both modes.
  Bytes high = valid();
  high[kFirstNote + 5 * kNoteBytes + 3] = 0xC0;
  out.push_back({"data-byte.mid", high, kNotes, true, "data_byte_clipped"});
  // End-of-Track deleted (the chunk length follows): both modes read every note.
  out.push_back({"no-eot.mid",
                 file_of(melody_track(
                     kNotes, [](auto&) {}, false)),
                 kNotes, true, "missing_end_of_track"});
  // An HTML page before MThd: strict mode refuses the file.
  const std::string html = "<html><body>moved</body></html>\n";
  Bytes prefixed(html.begin(), html.end());
  const Bytes v = valid();
  prefixed.insert(prefixed.end(), v.begin(), v.end());
  out.push_back({"garbage-prefix.mid", prefixed, kNotes, false, "leading_garbage"});
  // The header declares 3 tracks, 1 is present: both modes read it.
  out.push_back({"track-count.mid", file_of(melody_track(kNotes, [](auto&) {}), 3), kNotes, true,
                 "track_count"});
  // An undefined status byte (F4) as an event after note 7: skipped, every note kept.
  out.push_back({"undefined-status.mid",
                 file_of(melody_track(7, [](midi::test::TrackBytes& t) { t.ev(0, {0xF4}); })),
                 kNotes, false, "undefined_status"});
  return out;
}

inline void write_bytes(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// Writes every damaged file and the valid one ("valid.mid") into dir.
inline std::vector<Damaged> write_damaged_files(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  write_bytes(dir / "valid.mid", valid());
  auto files = damaged_files();
  for (const auto& f : files) write_bytes(dir / f.name, f.bytes);
  return files;
}

}  // namespace melodl::damaged_midi
