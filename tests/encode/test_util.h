// tests/encode/test_util.h: hand-built midi::Song objects for the encode tests, so the
// extraction rules are tested without MIDI files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <tuple>
#include <vector>

#include "encode/melody.h"
#include "midi/model.h"

namespace melodl::encode {
// Readable GoogleTest failure messages: "[8 +2:8 R4 -3:16]".
inline void PrintTo(const SymbolMelody& m, std::ostream* os) {
  *os << "[";
  for (std::size_t i = 0; i < m.steps.size(); ++i) {
    const Step& s = m.steps[i];
    if (i) *os << " ";
    if (s.rest) {
      *os << "R" << s.duration;
    } else if (i == 0) {
      *os << s.duration;
    } else {
      *os << (s.interval >= 0 ? "+" : "") << s.interval << ":" << s.duration;
    }
  }
  *os << "]";
}
}  // namespace melodl::encode

namespace melodl::encode::test {

inline midi::Note note(int pitch, std::int64_t start, std::int64_t end, int channel = 0) {
  midi::Note n;
  n.channel = static_cast<std::uint8_t>(channel);
  n.pitch = static_cast<std::uint8_t>(pitch);
  n.velocity = 80;
  n.start_tick = start;
  n.end_tick = end;
  return n;
}

// Sorts notes as the reader does: (start_tick, pitch, channel).
inline void sort_notes(std::vector<midi::Note>& notes) {
  std::sort(notes.begin(), notes.end(), [](const midi::Note& a, const midi::Note& b) {
    return std::tie(a.start_tick, a.pitch, a.channel) < std::tie(b.start_tick, b.pitch, b.channel);
  });
}

// A format-1 song at 480 PPQ, 120 bpm, one track per vector of notes.
inline midi::Song song_of(std::vector<std::vector<midi::Note>> tracks) {
  midi::Song s;
  s.source = "test";
  s.division.ppq = 480;
  s.tempo_map.push_back(midi::TempoChange{0, 0.0, 500000});
  for (auto& notes : tracks) {
    sort_notes(notes);
    midi::Track t;
    t.notes = std::move(notes);
    for (const auto& n : t.notes) t.end_tick = std::max(t.end_tick, n.end_tick);
    s.end_tick = std::max(s.end_tick, t.end_tick);
    s.tracks.push_back(std::move(t));
  }
  return s;
}

// Back-to-back notes of the given pitches and durations (ticks), from `start`.
inline std::vector<midi::Note> legato(const std::vector<int>& pitches,
                                      const std::vector<std::int64_t>& durations,
                                      std::int64_t start = 0, int channel = 0) {
  std::vector<midi::Note> out;
  std::int64_t t = start;
  for (std::size_t i = 0; i < pitches.size(); ++i) {
    const std::int64_t d = durations.size() == 1 ? durations[0] : durations[i];
    out.push_back(note(pitches[i], t, t + d, channel));
    t += d;
  }
  return out;
}

}  // namespace melodl::encode::test
