// encode/melody.cpp: melody extraction (MELODL4J README rules 1-16, v1 semantics and
// thresholds) and rendering of symbolic melodies back to notes. Part of melodl::encode;
// the string formats are in codec.cpp, the exact rules in docs/formats.md.
// Tests: tests/encode/extract_test.cpp, tests/encode/corpus_test.cpp.
#include "encode/melody.h"

#include <algorithm>
#include <array>
#include <bit>
#include <bitset>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "base/error.h"

namespace melodl::encode {

const char* to_string(Rejection r) {
  switch (r) {
    case Rejection::too_few_notes:
      return "too_few_notes";
    case Rejection::bad_pitch_range:
      return "bad_pitch_range";
    case Rejection::interval_too_large:
      return "interval_too_large";
    case Rejection::rest_too_long:
      return "rest_too_long";
    case Rejection::too_few_pitches:
      return "too_few_pitches";
    case Rejection::too_repetitive:
      return "too_repetitive";
    case Rejection::repeat_run_too_long:
      return "repeat_run_too_long";
    case Rejection::too_much_rest:
      return "too_much_rest";
    case Rejection::count_:
      break;
  }
  return "unknown";
}

ExtractStats& ExtractStats::operator+=(const ExtractStats& o) {
  tracks += o.tracks;
  sequences += o.sequences;
  percussion_skipped += o.percussion_skipped;
  kept += o.kept;
  for (std::size_t i = 0; i < rejected.size(); ++i) rejected[i] += o.rejected[i];
  return *this;
}

namespace {

constexpr int kPercussionChannel = 9;  // General MIDI channel 10, 0-based
constexpr int kUnitsPerMean = 8;       // MELODL4J durationDeltaParts: d = mean / 8
constexpr int kChannels = 16;

using NotePtr = const midi::Note*;

// Buffers reused across the sequences of one song, so extraction does no per-note
// allocation beyond the output melodies.
struct Scratch {
  std::vector<NotePtr> by_channel;  // the track's notes grouped by channel, start order
  std::vector<NotePtr> voice;       // one voice of the current sequence
  std::vector<std::pair<std::int64_t, int>> sounding;  // min-heap (end_tick, pitch) of kept notes
  std::vector<std::uint8_t> range;  // sparse table of pitch max (top) / min (bottom)
};

// Pitches of the kept notes still sounding: a count per pitch and a 128-bit set.
class PitchSet {
 public:
  void add(int p) {
    if (counts_[p]++ == 0) bits_[p >> 6] |= bit(p);
  }
  void remove(int p) {
    if (--counts_[p] == 0) bits_[p >> 6] &= ~bit(p);
  }
  bool any_above(int p) const {  // pitches p+1 .. 127
    const int q = p + 1;
    if (q >= 128) return false;
    if (q >= 64) return (bits_[1] >> (q - 64)) != 0;
    return (bits_[0] >> q) != 0 || bits_[1] != 0;
  }
  bool any_below(int p) const {  // pitches 0 .. p-1
    if (p <= 0) return false;
    if (p < 64) return (bits_[0] & (bit(p) - 1)) != 0;
    return bits_[0] != 0 || (bits_[1] & (bit(p) - 1)) != 0;
  }

 private:
  static std::uint64_t bit(int p) { return std::uint64_t{1} << (p & 63); }
  std::array<std::uint32_t, 128> counts_{};
  std::array<std::uint64_t, 2> bits_{};
};

// Range max (top) or min (bottom) of the sequence's pitches, built on first use: answers
// "does a note in [lo, hi) beat pitch p" in O(1) after an O(n log n) build.
class RangeExtreme {
 public:
  RangeExtreme(const NotePtr* seq, std::size_t n, bool top, std::vector<std::uint8_t>& table)
      : seq_(seq), n_(n), top_(top), t_(table) {}

  bool beats(std::size_t lo, std::size_t hi, int p) {
    if (!built_) build();
    const int level = std::bit_width(hi - lo) - 1;
    const std::size_t w = std::size_t{1} << level;
    const std::uint8_t* row = t_.data() + static_cast<std::size_t>(level) * n_;
    const int a = row[lo], b = row[hi - w];
    return top_ ? std::max(a, b) > p : std::min(a, b) < p;
  }

 private:
  void build() {
    const int levels = std::bit_width(n_);
    t_.resize(static_cast<std::size_t>(levels) * n_);
    for (std::size_t i = 0; i < n_; ++i) t_[i] = seq_[i]->pitch;
    for (int l = 1; l < levels; ++l) {
      const std::size_t half = std::size_t{1} << (l - 1);
      const std::uint8_t* prev = t_.data() + static_cast<std::size_t>(l - 1) * n_;
      std::uint8_t* row = t_.data() + static_cast<std::size_t>(l) * n_;
      for (std::size_t i = 0; i + 2 * half <= n_; ++i) {
        row[i] = top_ ? std::max(prev[i], prev[i + half]) : std::min(prev[i], prev[i + half]);
      }
    }
    built_ = true;
  }

  const NotePtr* seq_;
  std::size_t n_;
  bool top_;
  std::vector<std::uint8_t>& t_;
  bool built_ = false;
};

// One voice of a (track, channel) note sequence, MELODL4J v1 semantics: in start order,
// a note is removed when a HIGHER (top) or LOWER (bottom) note of the sequence that has
// not been removed yet overlaps it in time (half-open tick intervals). Removed notes no
// longer count for later notes. Returns how many notes were removed.
//
// Earlier notes that can overlap note i are the kept ones still sounding at its start
// (a heap by end tick and a pitch set); later notes are not removed yet, so all of those
// starting before i ends count: a short scan, then a range query for long windows, which
// keeps hostile inputs (thousands of stacked notes) at O(n log n).
std::size_t extract_voice(const NotePtr* seq, std::size_t n, bool top, Scratch& s) {
  constexpr std::size_t kScan = 16;
  s.voice.clear();
  s.sounding.clear();
  PitchSet sounding_pitches;
  RangeExtreme later(seq, n, top, s.range);
  auto by_end = [](const auto& x, const auto& y) { return x.first > y.first; };
  std::size_t removed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const midi::Note& a = *seq[i];
    const int p = a.pitch & 127;
    while (!s.sounding.empty() && s.sounding.front().first <= a.start_tick) {
      sounding_pitches.remove(s.sounding.front().second);
      std::pop_heap(s.sounding.begin(), s.sounding.end(), by_end);
      s.sounding.pop_back();
    }
    bool overlapped = top ? sounding_pitches.any_above(p) : sounding_pitches.any_below(p);
    std::size_t j = i + 1;
    for (; !overlapped && j < n && j < i + 1 + kScan && seq[j]->start_tick < a.end_tick; ++j) {
      const int q = seq[j]->pitch & 127;
      overlapped = top ? q > p : q < p;
    }
    if (!overlapped && j == i + 1 + kScan && j < n && seq[j]->start_tick < a.end_tick) {
      const NotePtr* end = std::partition_point(
          seq + j, seq + n, [&](NotePtr b) { return b->start_tick < a.end_tick; });
      overlapped = later.beats(j, static_cast<std::size_t>(end - seq), p);
    }
    if (overlapped) {
      ++removed;
    } else {
      s.sounding.emplace_back(a.end_tick, p);
      std::push_heap(s.sounding.begin(), s.sounding.end(), by_end);
      sounding_pitches.add(p);
      s.voice.push_back(seq[i]);
    }
  }
  return removed;
}

// The filters of README rules 7-13 in v1 order; the first failing one, or none.
bool check_filters(const std::vector<NotePtr>& v, std::int64_t seq_start, const ExtractOptions& o,
                   Rejection& why) {
  const std::size_t n = v.size();
  if (n == 0 || static_cast<long long>(n) < o.min_notes) {
    why = Rejection::too_few_notes;
    return false;
  }
  int lo = 128, hi = -1, max_jump = 0;
  std::size_t repeats = 0, run = 0, longest_run = 0;
  std::int64_t longest_rest = 0, total_rest = 0;
  std::bitset<128> pitches;
  for (std::size_t i = 0; i < n; ++i) {
    const int p = v[i]->pitch;
    lo = std::min(lo, p);
    hi = std::max(hi, p);
    pitches.set(static_cast<std::size_t>(p & 127));
    if (i == 0) continue;
    const int prev = v[i - 1]->pitch;
    max_jump = std::max(max_jump, std::abs(p - prev));
    if (p == prev) {
      ++repeats;
      longest_run = std::max(longest_run, ++run);
    } else {
      run = 0;
    }
    const std::int64_t gap = std::max<std::int64_t>(0, v[i]->start_tick - v[i - 1]->end_tick);
    longest_rest = std::max(longest_rest, gap);
    total_rest += gap;
  }
  const double total = static_cast<double>(v.back()->end_tick - seq_start);
  if (lo >= hi) {
    why = Rejection::bad_pitch_range;
  } else if (max_jump > o.max_abs_interval) {
    why = Rejection::interval_too_large;
  } else if (static_cast<double>(longest_rest) / total > o.max_longest_rest_fraction) {
    why = Rejection::rest_too_long;
  } else if (static_cast<int>(pitches.count()) < o.min_distinct_pitches) {
    why = Rejection::too_few_pitches;
  } else if (static_cast<double>(repeats) / static_cast<double>(n) >= o.max_repeat_fraction) {
    why = Rejection::too_repetitive;
  } else if (static_cast<long long>(longest_run) > o.max_repeat_run) {
    why = Rejection::repeat_run_too_long;
  } else if (static_cast<double>(total_rest) / total >= o.max_total_rest_fraction) {
    why = Rejection::too_much_rest;
  } else {
    return true;
  }
  return false;
}

int fold_interval(int iv) {
  while (iv > kMaxInterval) iv -= 12;
  while (iv < -kMaxInterval) iv += 12;
  return iv;
}

// Java's Math.round on a double: the exact floor(x + 1/2), without the rounding of the
// addition (x - floor(x) is exact).
double round_half_up(double x) {
  const double f = std::floor(x);
  return x - f >= 0.5 ? f + 1.0 : f;
}

// Encodes a kept voice. The unit is d = mean / 8 and a length x quantises to
// min(round(x / d), 31), with MELODL4J v1's double arithmetic (mean = sum / n, d = mean / 8,
// x / d), so exact ties that double division lands just below round down as in v1.
// A rest that would quantise to 0 is "shorter than half a unit" (drop_short_rests).
void encode_voice(const std::vector<NotePtr>& v, const ExtractOptions& o, ExtractedMelody& out) {
  const std::size_t n = v.size();
  std::int64_t sum = 0;
  for (NotePtr p : v) sum += p->end_tick - p->start_tick;
  const double d = static_cast<double>(sum) / static_cast<double>(n) / kUnitsPerMean;
  auto quantise = [d](std::int64_t x) {
    const double k = round_half_up(static_cast<double>(x) / d);
    return k >= kDurationLevels - 1 ? kDurationLevels - 1 : static_cast<int>(k);
  };
  out.unit_ticks = d;
  auto& steps = out.symbols.steps;
  steps.clear();
  steps.reserve(n + n / 4);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t dur = v[i]->end_tick - v[i]->start_tick;
    bool rest_after = false;
    std::int64_t gap = 0;
    if (i + 1 < n) {
      gap = v[i + 1]->start_tick - v[i]->end_tick;
      if (gap > 0) {
        if (o.drop_short_rests && quantise(gap) == 0) {
          dur += gap;
        } else {
          rest_after = true;
        }
      }
    }
    Step note;
    note.interval = i == 0 ? 0 : fold_interval(int{v[i]->pitch} - int{v[i - 1]->pitch});
    note.duration = quantise(dur);
    steps.push_back(note);
    if (rest_after) {
      Step rest;
      rest.rest = true;
      rest.duration = quantise(gap);
      steps.push_back(rest);
    }
  }
}

}  // namespace

namespace {

void check_options(const ExtractOptions& o) {
  auto fail = [](const std::string& what) {
    throw InvalidArgument("[encode::extract_melodies] " + what);
  };
  if (!o.top && !o.bottom) fail("neither the top nor the bottom voice is requested");
  if (o.min_notes < 1) fail("min_notes must be >= 1, got " + std::to_string(o.min_notes));
  const std::pair<const char*, double> fractions[] = {
      {"max_longest_rest_fraction", o.max_longest_rest_fraction},
      {"max_repeat_fraction", o.max_repeat_fraction},
      {"max_total_rest_fraction", o.max_total_rest_fraction}};
  for (const auto& [name, v] : fractions) {
    if (!(v >= 0.0)) fail(std::string(name) + " must be a number >= 0, got " + std::to_string(v));
  }
}

}  // namespace

ExtractResult extract_melodies(const midi::Song& song, const ExtractOptions& options) {
  check_options(options);
  ExtractResult res;
  res.stats.tracks = song.tracks.size();
  Scratch s;
  for (std::size_t ti = 0; ti < song.tracks.size(); ++ti) {
    const midi::Track& track = song.tracks[ti];
    // Counting sort of the track's sounding notes by channel; keeps start order.
    std::array<std::size_t, kChannels + 1> first{};
    for (const midi::Note& nt : track.notes) {
      if (nt.end_tick > nt.start_tick) ++first[(nt.channel & 15) + 1];
    }
    for (int c = 0; c < kChannels; ++c) first[c + 1] += first[c];
    s.by_channel.resize(first[kChannels]);
    std::array<std::size_t, kChannels> fill{};
    for (int c = 0; c < kChannels; ++c) fill[c] = first[c];
    for (const midi::Note& nt : track.notes) {
      if (nt.end_tick > nt.start_tick) s.by_channel[fill[nt.channel & 15]++] = &nt;
    }

    for (int c = 0; c < kChannels; ++c) {
      const std::size_t n = first[c + 1] - first[c];
      if (n == 0) continue;
      if (c == kPercussionChannel && options.skip_percussion) {
        ++res.stats.percussion_skipped;
        continue;
      }
      NotePtr* seq = s.by_channel.data() + first[c];
      // Songs from the reader are sorted; hand-built ones may not be.
      auto before = [](NotePtr a, NotePtr b) {
        return a->start_tick != b->start_tick ? a->start_tick < b->start_tick : a->pitch < b->pitch;
      };
      if (!std::is_sorted(seq, seq + n, before)) std::stable_sort(seq, seq + n, before);
      // Sequence start and program: the first program change of this (track, channel)
      // creates the sequence in v1 when it comes before the first note.
      std::int64_t seq_start = seq[0]->start_tick;
      int program = 0;
      for (const midi::ProgramChange& pc : track.programs) {
        if (pc.channel != c) continue;
        program = pc.program;
        seq_start = std::min(seq_start, pc.tick);
        break;
      }

      bool monophonic = false;
      for (int pass = 0; pass < 2; ++pass) {
        const bool top = pass == 0;
        if (top ? !options.top : !options.bottom) continue;
        if (!top && options.top && monophonic) continue;  // same line as the top voice
        const std::size_t removed = extract_voice(seq, n, top, s);
        if (top) monophonic = removed == 0;
        ++res.stats.sequences;
        Rejection why{};
        if (!check_filters(s.voice, seq_start, options, why)) {
          ++res.stats.rejected[static_cast<std::size_t>(why)];
          continue;
        }
        ++res.stats.kept;
        ExtractedMelody& m = res.melodies.emplace_back();
        m.source = song.source;
        m.track = static_cast<int>(ti);
        m.channel = c;
        m.program = program;
        m.voice = top ? Voice::top : Voice::bottom;
        m.start_pitch = s.voice.front()->pitch;
        encode_voice(s.voice, options, m);
        const std::int64_t t0 = s.voice.front()->start_tick;
        m.unit_seconds = m.unit_ticks * (song.tick_to_seconds(t0 + 1) - song.tick_to_seconds(t0));
      }
    }
  }
  return res;
}

std::vector<midi::Note> to_notes(const SymbolMelody& melody, const RenderOptions& options) {
  if (!(options.ticks_per_unit > 0.0) || !std::isfinite(options.ticks_per_unit)) {
    throw InvalidArgument("[encode::to_notes] ticks_per_unit must be > 0, got " +
                          std::to_string(options.ticks_per_unit));
  }
  if (options.lowest < 0 || options.highest > 127 || options.highest - options.lowest < 11) {
    throw InvalidArgument(
        "[encode::to_notes] [lowest, highest] must lie in [0, 127] and span"
        " at least an octave, got [" +
        std::to_string(options.lowest) + ", " + std::to_string(options.highest) + "]");
  }
  if (options.velocity < 1 || options.velocity > 127) {
    throw InvalidArgument("[encode::to_notes] velocity must be 1..127, got " +
                          std::to_string(options.velocity));
  }
  auto fold_pitch = [&](int p) {
    while (p < options.lowest) p += 12;
    while (p > options.highest) p -= 12;
    return p;
  };
  std::vector<midi::Note> notes;
  notes.reserve(melody.steps.size());
  const double tpu = options.ticks_per_unit;
  const std::int64_t zero_len = std::max<std::int64_t>(1, std::llround(tpu / 2.0));
  double t = 0.0;  // in ticks; positions rounded, so fractional units do not drift
  int pitch = fold_pitch(options.start_pitch);
  bool first = true;
  for (const Step& st : melody.steps) {
    if (st.rest) {
      t += st.duration * tpu;
      continue;
    }
    if (!first) pitch = fold_pitch(pitch + st.interval);
    first = false;
    midi::Note nt;
    nt.channel = 0;
    nt.pitch = static_cast<std::uint8_t>(pitch);
    nt.velocity = static_cast<std::uint8_t>(options.velocity);
    nt.start_tick = std::llround(t);
    // Index 0 ("shorter than d/2") still sounds: half a unit, at least one tick.
    const double len = st.duration > 0 ? st.duration * tpu : static_cast<double>(zero_len);
    t += len;
    nt.end_tick = std::max<std::int64_t>(nt.start_tick + 1, std::llround(t));
    nt.start_s = static_cast<double>(nt.start_tick) * options.seconds_per_tick;
    nt.end_s = static_cast<double>(nt.end_tick) * options.seconds_per_tick;
    notes.push_back(nt);
  }
  return notes;
}

}  // namespace melodl::encode
