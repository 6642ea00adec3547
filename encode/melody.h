// encode/melody.h: melodies as symbols. Extraction of monophonic melodies from a
// midi::Song (MELODL4J README rules 1-16, v1 thresholds as defaults), the abstract
// symbolic melody, and its rendering back to notes. Codecs (string formats) are in
// encode/codec.h. Depends only on midi/model.h: no libsmf, LSTM or CUDA.
//
// Example:
//   melodl::encode::ExtractOptions opt;           // v1 defaults
//   auto res = melodl::encode::extract_melodies(song, opt);
//   for (const auto& m : res.melodies) out << melodl::encode::native_codec().encode(m.symbols) <<
//   "\n";
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "midi/model.h"

namespace melodl::encode {

inline constexpr int kDurationLevels = 32;  // duration indices 0..31
inline constexpr int kMaxInterval = 12;     // intervals folded by octaves into [-12, 12]

// One step of a melody. The first step of every melody is a note whose interval is
// ignored (the absolute start pitch is not encoded), as in MELODL4J.
struct Step {
  bool rest = false;
  int interval = 0;  // semitones from the previous note, in [-12, 12]; 0 for rests
  int duration = 0;  // quantised duration index 0..31, in units of the melody's unit d
  bool operator==(const Step&) const = default;
};

// A melody as symbols: what a codec writes as one line.
struct SymbolMelody {
  std::vector<Step> steps;  // steps[0] is the first note
  bool operator==(const SymbolMelody&) const = default;
};

enum class Voice { top, bottom };

// Filters and options. Defaults are MELODL4J v1's thresholds (docs/formats.md).
// A sequence is rejected by the FIRST failing filter, in the order of Rejection below.
// With top and bottom both on, a monophonic sequence (no note removed) is emitted once,
// as Voice::top; with bottom alone it is emitted as its own bottom voice (v1 skipped it).
struct ExtractOptions {
  int min_notes = 11;                       // keep if note count > v1 minLength 10
  int max_abs_interval = 16;                // largest |interval| between consecutive notes
  double max_longest_rest_fraction = 0.20;  // longest rest / total duration
  int min_distinct_pitches = 4;
  double max_repeat_fraction = 0.70;      // repeated notes / note count must be below
  int max_repeat_run = 10;                // longest run of consecutive repeats
  double max_total_rest_fraction = 0.66;  // total rest / total duration must be below
  bool skip_percussion = true;            // channel 10 (index 9); v1 did not skip it
  bool drop_short_rests = true;           // rest < d/2 merged into the previous note; false = v1
  bool top = true;                        // extract the top voice of polyphonic sequences
  bool bottom = false;                    // extract the bottom voice
};

// Why a candidate sequence was not kept.
enum class Rejection : int {
  too_few_notes,
  bad_pitch_range,
  interval_too_large,
  rest_too_long,
  too_few_pitches,
  too_repetitive,
  repeat_run_too_long,
  too_much_rest,
  count_  // number of reasons
};
const char* to_string(Rejection r);

// A kept melody, with where it came from and how to play it back.
struct ExtractedMelody {
  std::string source;  // Song::source
  int track = 0;       // index into Song::tracks (0-based; v1 numbered from 1)
  int channel = 0;     // 0..15
  int program = 0;     // first program change of the (track, channel), else 0
  Voice voice = Voice::top;
  int start_pitch = 60;       // MIDI pitch of the first note
  double unit_ticks = 0.0;    // d = mean note duration / 8, in ticks
  double unit_seconds = 0.0;  // d in seconds (at the first note's tempo)
  SymbolMelody symbols;
};

struct ExtractStats {
  std::size_t tracks = 0;
  std::size_t sequences = 0;           // (track, channel) note sequences considered, per voice
                                       // emitted (= kept + sum of rejected); percussion excluded
  std::size_t percussion_skipped = 0;  // (track, channel) sequences on channel index 9
  std::size_t kept = 0;
  std::array<std::size_t, static_cast<int>(Rejection::count_)> rejected{};
  ExtractStats& operator+=(const ExtractStats& o);
};

struct ExtractResult {
  std::vector<ExtractedMelody> melodies;
  ExtractStats stats;
};

// Throws InvalidArgument when neither voice is requested, min_notes < 1, or a
// fraction is negative or NaN. Never throws for the song's content.
ExtractResult extract_melodies(const midi::Song& song, const ExtractOptions& options = {});

// Notes of a symbolic melody: start at start_pitch, each duration index k lasts
// k * ticks_per_unit ticks (index 0 notes last max(1, ticks_per_unit/2)), pitches
// folded into [lowest, highest] by octaves. Channel 0, the given velocity.
// Notes are legato (each starts where the previous note or rest ends); a rest of index
// k advances time by k units (index 0: not at all); steps[0].interval is ignored.
// Tick positions are rounded from exact multiples, so fractional units do not drift.
// Throws InvalidArgument for ticks_per_unit <= 0, velocity outside 1..127, or a
// [lowest, highest] range outside 0..127 or narrower than an octave.
struct RenderOptions {
  int start_pitch = 60;
  double ticks_per_unit = 60.0;  // 480 PPQ: unit = a 32nd note, index 8 = a quarter
  int velocity = 90;
  int lowest = 36;
  int highest = 96;
  double seconds_per_tick = 0.5 / 480.0;  // fills Note::start_s/end_s (120 bpm at 480 PPQ)
};
std::vector<midi::Note> to_notes(const SymbolMelody& melody, const RenderOptions& options = {});

}  // namespace melodl::encode
