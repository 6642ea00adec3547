// tests/encode/extract_test.cpp: melody extraction on hand-built songs: every filter at
// its threshold (accepted at the limit, rejected one step beyond), first-failing-filter
// bookkeeping, top and bottom voices, percussion, channel grouping, sequence start and
// program, interval folding, duration quantisation and the short-rest rule.
// Run: ctest --test-dir <build> -R encode_test
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>

#include "base/error.h"
#include "encode/melody.h"
#include "test_util.h"

namespace melodl::encode {
namespace {

using test::legato;
using test::note;
using test::song_of;

// A plain line that passes every default filter: 12 notes, 5 pitches, steps of 1-2.
const std::vector<int> kLine = {60, 62, 64, 65, 67, 65, 64, 62, 60, 62, 64, 65};

std::size_t total_rejected(const ExtractStats& s) {
  return std::accumulate(s.rejected.begin(), s.rejected.end(), std::size_t{0});
}

// Extracts a one-track song and returns the rejection (or count_ when kept).
Rejection verdict(std::vector<midi::Note> notes, const ExtractOptions& opt = {}) {
  const auto res = extract_melodies(song_of({std::move(notes)}), opt);
  EXPECT_EQ(res.stats.sequences, 1u);
  EXPECT_EQ(res.stats.kept + total_rejected(res.stats), res.stats.sequences);
  if (res.stats.kept == 1) return Rejection::count_;
  for (int r = 0; r < static_cast<int>(Rejection::count_); ++r) {
    if (res.stats.rejected[static_cast<std::size_t>(r)] == 1) return static_cast<Rejection>(r);
  }
  ADD_FAILURE() << "neither kept nor rejected";
  return Rejection::count_;
}

constexpr Rejection kKept = Rejection::count_;

TEST(Extract, PlainLineIsKept) {
  const auto res = extract_melodies(song_of({legato(kLine, {480})}));
  ASSERT_EQ(res.melodies.size(), 1u);
  const ExtractedMelody& m = res.melodies[0];
  EXPECT_EQ(m.source, "test");
  EXPECT_EQ(m.track, 0);
  EXPECT_EQ(m.channel, 0);
  EXPECT_EQ(m.program, 0);
  EXPECT_EQ(m.voice, Voice::top);
  EXPECT_EQ(m.start_pitch, 60);
  EXPECT_DOUBLE_EQ(m.unit_ticks, 60.0);                // mean 480 / 8
  EXPECT_DOUBLE_EQ(m.unit_seconds, 60.0 * 0.5 / 480);  // 120 bpm, 480 PPQ
  ASSERT_EQ(m.symbols.steps.size(), kLine.size());
  for (std::size_t i = 0; i < kLine.size(); ++i) {
    EXPECT_FALSE(m.symbols.steps[i].rest);
    EXPECT_EQ(m.symbols.steps[i].duration, 8);
    EXPECT_EQ(m.symbols.steps[i].interval, i == 0 ? 0 : kLine[i] - kLine[i - 1]);
  }
  EXPECT_EQ(res.stats.tracks, 1u);
  EXPECT_EQ(res.stats.kept, 1u);
}

TEST(ExtractFilters, NoteCount) {
  std::vector<int> eleven(kLine.begin(), kLine.begin() + 11);
  std::vector<int> ten(kLine.begin(), kLine.begin() + 10);
  EXPECT_EQ(verdict(legato(eleven, {480})), kKept);
  EXPECT_EQ(verdict(legato(ten, {480})), Rejection::too_few_notes);
  ExtractOptions opt;
  opt.min_notes = 10;
  EXPECT_EQ(verdict(legato(ten, {480}), opt), kKept);
}

TEST(ExtractFilters, PitchRange) {
  // One pitch only: min == max. It fails later filters too; the first one is recorded.
  EXPECT_EQ(verdict(legato(std::vector<int>(12, 60), {480})), Rejection::bad_pitch_range);
}

TEST(ExtractFilters, LargestInterval) {
  std::vector<int> p = {60, 76, 60, 62, 64, 65, 67, 65, 64, 62, 60};  // jumps of exactly 16
  EXPECT_EQ(verdict(legato(p, {480})), kKept);
  p[1] = 77;  // 17 up, 17 down
  EXPECT_EQ(verdict(legato(p, {480})), Rejection::interval_too_large);
  ExtractOptions opt;
  opt.max_abs_interval = 17;
  EXPECT_EQ(verdict(legato(p, {480}), opt), kKept);
}

// 11 notes of 100 ticks with one rest of `gap` ticks after the fifth note.
std::vector<midi::Note> with_gap(std::int64_t gap) {
  auto notes = legato(std::vector<int>(kLine.begin(), kLine.begin() + 11), {100});
  for (std::size_t i = 5; i < notes.size(); ++i) {
    notes[i].start_tick += gap;
    notes[i].end_tick += gap;
  }
  return notes;
}

TEST(ExtractFilters, LongestRest) {
  // total = 1100 + gap; 275 / 1375 = 0.20 exactly (allowed: <= 0.20).
  EXPECT_EQ(verdict(with_gap(275)), kKept);
  EXPECT_EQ(verdict(with_gap(276)), Rejection::rest_too_long);
  ExtractOptions opt;
  opt.max_longest_rest_fraction = 0.25;
  EXPECT_EQ(verdict(with_gap(276), opt), kKept);
}

TEST(ExtractFilters, SequenceStartsAtFirstProgramChange) {
  // v1: a program change before the first note creates the sequence, so the leading
  // silence counts in the total duration (not as a rest).
  auto notes = with_gap(300);
  for (auto& n : notes) {
    n.start_tick += 1000;
    n.end_tick += 1000;
  }
  EXPECT_EQ(verdict(notes), Rejection::rest_too_long);  // 300 / 1400
  auto song = song_of({notes});
  song.tracks[0].programs.push_back(midi::ProgramChange{0, 0.0, 0, 41});
  song.tracks[0].programs.push_back(midi::ProgramChange{0, 0.0, 3, 7});  // other channel
  const auto res = extract_melodies(song);                               // 300 / 2400
  ASSERT_EQ(res.melodies.size(), 1u);
  EXPECT_EQ(res.melodies[0].program, 41);
}

TEST(ExtractFilters, DistinctPitches) {
  const std::vector<int> three = {60, 62, 64, 62, 60, 62, 64, 62, 60, 62, 64};
  const std::vector<int> four = {60, 62, 64, 65, 60, 62, 64, 65, 60, 62, 64};
  EXPECT_EQ(verdict(legato(three, {480})), Rejection::too_few_pitches);
  EXPECT_EQ(verdict(legato(four, {480})), kKept);
}

std::vector<int> repeated(std::initializer_list<std::pair<int, int>> runs) {
  std::vector<int> p;
  for (auto [pitch, count] : runs) p.insert(p.end(), static_cast<std::size_t>(count), pitch);
  return p;
}

TEST(ExtractFilters, RepeatProportion) {
  // 20 notes, 14 repeats: 0.70 is rejected (must be below 0.70); 13 repeats: 0.65 kept.
  const auto fourteen = repeated({{60, 8}, {62, 8}, {64, 1}, {65, 1}, {67, 1}, {69, 1}});
  const auto thirteen = repeated({{60, 8}, {62, 7}, {64, 1}, {65, 1}, {67, 1}, {69, 1}, {71, 1}});
  ASSERT_EQ(fourteen.size(), 20u);
  ASSERT_EQ(thirteen.size(), 20u);
  EXPECT_EQ(verdict(legato(fourteen, {480})), Rejection::too_repetitive);
  EXPECT_EQ(verdict(legato(thirteen, {480})), kKept);
}

TEST(ExtractFilters, RepeatRun) {
  // 11 equal notes in a row = a run of 10 repeats (allowed); 12 = 11 (rejected).
  const std::vector<int> tail = {62, 64, 65, 67, 69, 67, 65, 64, 62, 60, 62, 64, 65, 67};
  auto ok = repeated({{60, 11}});
  auto bad = repeated({{60, 12}});
  ok.insert(ok.end(), tail.begin(), tail.end());
  bad.insert(bad.end(), tail.begin(), tail.end());
  EXPECT_EQ(verdict(legato(ok, {480})), kKept);
  EXPECT_EQ(verdict(legato(bad, {480})), Rejection::repeat_run_too_long);
}

// 11 notes and 10 rests summing to exactly 1000 ticks, the rests summing to `rest`.
std::vector<midi::Note> rest_share(std::int64_t rest) {
  std::vector<midi::Note> out;
  const std::int64_t sound = 1000 - rest;
  std::int64_t t = 0;
  for (int i = 0; i < 11; ++i) {
    const std::int64_t d = sound / 11 + (i < sound % 11 ? 1 : 0);
    out.push_back(note(kLine[static_cast<std::size_t>(i)], t, t + d));
    t += d;
    if (i < 10) t += rest / 10 + (i < rest % 10 ? 1 : 0);
  }
  EXPECT_EQ(out.back().end_tick, 1000);
  return out;
}

TEST(ExtractFilters, TotalRest) {
  EXPECT_EQ(verdict(rest_share(659)), kKept);                     // 0.659
  EXPECT_EQ(verdict(rest_share(660)), Rejection::too_much_rest);  // 0.66: must be below
  ExtractOptions opt;
  opt.max_total_rest_fraction = 0.7;
  EXPECT_EQ(verdict(rest_share(660), opt), kKept);
}

TEST(ExtractFilters, FirstFailingFilterIsRecorded) {
  // Three pitches AND 14 repeats out of 20: too_few_pitches comes first.
  const auto p = repeated({{60, 8}, {62, 8}, {64, 1}, {60, 1}, {62, 1}, {64, 1}});
  EXPECT_EQ(verdict(legato(p, {480})), Rejection::too_few_pitches);
}

TEST(ExtractVoices, TopAndBottomOfTwoVoices) {
  const std::vector<int> upper = {72, 74, 76, 77, 79, 77, 76, 74, 72, 74, 76, 77};
  const std::vector<int> lower = {48, 47, 45, 43, 41, 43, 45, 47, 48, 50, 52, 53};
  auto notes = legato(upper, {480});
  auto low = legato(lower, {240});  // faster lower voice: 24 notes under 12
  auto low2 = legato(lower, {240}, 12 * 240);
  notes.insert(notes.end(), low.begin(), low.end());
  notes.insert(notes.end(), low2.begin(), low2.end());
  ExtractOptions opt;
  opt.bottom = true;
  const auto res = extract_melodies(song_of({notes}), opt);
  ASSERT_EQ(res.melodies.size(), 2u);
  EXPECT_EQ(res.stats.sequences, 2u);
  const auto& top = res.melodies[0];
  const auto& bottom = res.melodies[1];
  EXPECT_EQ(top.voice, Voice::top);
  EXPECT_EQ(bottom.voice, Voice::bottom);
  EXPECT_EQ(top.start_pitch, 72);
  EXPECT_EQ(bottom.start_pitch, 48);
  // Each voice is exactly what the line alone would give.
  const auto alone_top = extract_melodies(song_of({legato(upper, {480})}));
  auto lower24 = legato(lower, {240});
  lower24.insert(lower24.end(), low2.begin(), low2.end());
  const auto alone_bottom = extract_melodies(song_of({lower24}));
  ASSERT_EQ(alone_top.melodies.size(), 1u);
  ASSERT_EQ(alone_bottom.melodies.size(), 1u);
  EXPECT_EQ(top.symbols, alone_top.melodies[0].symbols);
  EXPECT_EQ(bottom.symbols, alone_bottom.melodies[0].symbols);
  EXPECT_EQ(bottom.symbols.steps.size(), 24u);
}

TEST(ExtractVoices, RemovedNotesNoLongerCount) {
  // X overlaps Y, Y overlaps Z. Top: Y is removed (X is higher); Z stays because the
  // only higher note overlapping it, Y, was already removed (v1's in-order removal).
  ExtractOptions loose;
  loose.min_notes = 1;
  loose.min_distinct_pitches = 1;
  {
    const auto res = extract_melodies(
        song_of({{note(67, 0, 100), note(64, 50, 150), note(60, 120, 200)}}), loose);
    ASSERT_EQ(res.melodies.size(), 1u);
    const auto& s = res.melodies[0].symbols.steps;
    EXPECT_EQ(res.melodies[0].start_pitch, 67);
    ASSERT_EQ(s.size(), 3u);  // note, rest (100..120), note
    EXPECT_TRUE(s[1].rest);
    EXPECT_EQ(s[2].interval, -7);
  }
  {  // The mirror image for the bottom voice.
    ExtractOptions o = loose;
    o.top = false;
    o.bottom = true;
    const auto res =
        extract_melodies(song_of({{note(60, 0, 100), note(64, 50, 150), note(67, 120, 200)}}), o);
    ASSERT_EQ(res.melodies.size(), 1u);
    EXPECT_EQ(res.melodies[0].voice, Voice::bottom);
    EXPECT_EQ(res.melodies[0].start_pitch, 60);
    ASSERT_EQ(res.melodies[0].symbols.steps.size(), 3u);
    EXPECT_EQ(res.melodies[0].symbols.steps[2].interval, 7);
  }
}

// MELODL4J v1's voice rule written as plainly as possible (O(n^2)): the reference.
std::vector<midi::Note> naive_voice(const std::vector<midi::Note>& notes, bool top) {
  std::vector<bool> removed(notes.size(), false);
  for (std::size_t i = 0; i < notes.size(); ++i) {
    for (std::size_t j = 0; j < notes.size(); ++j) {
      if (j == i || removed[j]) continue;
      const bool beats = top ? notes[j].pitch > notes[i].pitch : notes[j].pitch < notes[i].pitch;
      const bool overlap =
          notes[i].start_tick < notes[j].end_tick && notes[j].start_tick < notes[i].end_tick;
      if (beats && overlap) {
        removed[i] = true;
        break;
      }
    }
  }
  std::vector<midi::Note> out;
  for (std::size_t i = 0; i < notes.size(); ++i) {
    if (!removed[i]) out.push_back(notes[i]);
  }
  return out;
}

TEST(ExtractVoices, MatchesNaiveRuleOnDenseRandomPolyphony) {
  // Long notes over dense starts: windows of ~100 later notes, so the range-query path
  // of the voice rule runs, not only the short scan.
  ExtractOptions loose;
  loose.min_notes = 1;
  loose.max_abs_interval = 127;
  loose.max_longest_rest_fraction = 10;
  loose.min_distinct_pitches = 1;
  loose.max_repeat_fraction = 10;
  loose.max_repeat_run = 1 << 30;
  loose.max_total_rest_fraction = 10;
  std::mt19937 rng(2026);
  for (int t = 0; t < 40; ++t) {
    std::vector<midi::Note> notes;
    const int count = std::uniform_int_distribution<int>(50, 400)(rng);
    std::uniform_int_distribution<int> start(0, 4000), len(1, 1200), pitch(40, 80);
    for (int i = 0; i < count; ++i) {
      const int st = start(rng);
      notes.push_back(note(pitch(rng), st, st + len(rng)));
    }
    test::sort_notes(notes);
    for (bool top : {true, false}) {
      ExtractOptions o = loose;
      o.top = top;
      o.bottom = !top;
      const auto got = extract_melodies(song_of({notes}), o);
      const auto want = extract_melodies(song_of({naive_voice(notes, top)}), o);
      ASSERT_EQ(got.melodies.size(), want.melodies.size());
      if (got.melodies.empty()) continue;
      EXPECT_EQ(got.melodies[0].start_pitch, want.melodies[0].start_pitch);
      ASSERT_EQ(got.melodies[0].symbols, want.melodies[0].symbols) << "trial " << t;
    }
  }
}

TEST(ExtractVoices, StackedNotesStayFast) {
  // 100,000 notes sounding together (a hostile file): O(n^2) would take minutes.
  std::vector<midi::Note> notes;
  for (int i = 0; i < 100000; ++i) notes.push_back(note(40 + i % 40, i, 200000 + i));
  ExtractOptions both;
  both.bottom = true;
  const auto res = extract_melodies(song_of({notes}), both);
  EXPECT_EQ(res.stats.sequences, 2u);
}

TEST(ExtractVoices, MonophonicEmittedOnce) {
  ExtractOptions both;
  both.bottom = true;
  const auto res = extract_melodies(song_of({legato(kLine, {480})}), both);
  EXPECT_EQ(res.melodies.size(), 1u);
  EXPECT_EQ(res.stats.sequences, 1u);
  ExtractOptions bottom_only;
  bottom_only.top = false;
  bottom_only.bottom = true;
  const auto b = extract_melodies(song_of({legato(kLine, {480})}), bottom_only);
  ASSERT_EQ(b.melodies.size(), 1u);
  EXPECT_EQ(b.melodies[0].voice, Voice::bottom);
}

TEST(Extract, PercussionSkippedUnlessAsked) {
  const auto res = extract_melodies(song_of({legato(kLine, {480}, 0, 9)}));
  EXPECT_TRUE(res.melodies.empty());
  EXPECT_EQ(res.stats.percussion_skipped, 1u);
  EXPECT_EQ(res.stats.sequences, 0u);
  ExtractOptions keep;
  keep.skip_percussion = false;
  const auto kept = extract_melodies(song_of({legato(kLine, {480}, 0, 9)}), keep);
  ASSERT_EQ(kept.melodies.size(), 1u);
  EXPECT_EQ(kept.melodies[0].channel, 9);
}

TEST(Extract, SequencesPerTrackAndChannel) {
  // Two channels interleaved in one track, and a second track: three sequences, none
  // polyphonic across channels or tracks.
  auto t0 = legato(kLine, {480}, 0, 0);
  auto ch3 = legato({48, 50, 52, 53, 55, 53, 52, 50, 48, 50, 52}, {480}, 240, 3);
  t0.insert(t0.end(), ch3.begin(), ch3.end());
  auto song = song_of({t0, legato(kLine, {240}, 0, 0)});
  song.tracks[0].programs.push_back(midi::ProgramChange{0, 0.0, 3, 42});
  const auto res = extract_melodies(song);
  ASSERT_EQ(res.melodies.size(), 3u);
  EXPECT_EQ(res.stats.tracks, 2u);
  EXPECT_EQ(res.melodies[0].track, 0);
  EXPECT_EQ(res.melodies[0].channel, 0);
  EXPECT_EQ(res.melodies[0].program, 0);
  EXPECT_EQ(res.melodies[1].track, 0);
  EXPECT_EQ(res.melodies[1].channel, 3);
  EXPECT_EQ(res.melodies[1].program, 42);
  EXPECT_EQ(res.melodies[1].symbols.steps.size(), 11u);
  EXPECT_EQ(res.melodies[2].track, 1);
  EXPECT_DOUBLE_EQ(res.melodies[2].unit_ticks, 30.0);
}

TEST(Extract, IntervalsFoldedByOctaves) {
  const std::vector<int> p = {60, 74, 60, 72, 60, 84, 71, 58, 59, 61, 81};
  ExtractOptions opt;
  opt.max_abs_interval = 127;
  const auto res = extract_melodies(song_of({legato(p, {480})}), opt);
  ASSERT_EQ(res.melodies.size(), 1u);
  std::vector<int> got;
  for (const Step& s : res.melodies[0].symbols.steps) got.push_back(s.interval);
  // +14 -> 2, -14 -> -2, +12, -12, +24 -> 12, -13 -> -1, -13 -> -1, +1, +2, +20 -> 8
  EXPECT_EQ(got, (std::vector<int>{0, 2, -2, 12, -12, 12, -1, -1, 1, 2, 8}));
}

TEST(Extract, DurationQuantisation) {
  // Mean 400 ticks -> d = 50; k = min(round(x / 50), 31), halves round up.
  const std::vector<std::int64_t> dur = {400, 200, 600, 25, 24, 1600, 100, 75, 400, 576, 400};
  ASSERT_EQ(std::accumulate(dur.begin(), dur.end(), std::int64_t{0}), 4400);
  const auto res =
      extract_melodies(song_of({legato(std::vector<int>(kLine.begin(), kLine.begin() + 11), dur)}));
  ASSERT_EQ(res.melodies.size(), 1u);
  EXPECT_DOUBLE_EQ(res.melodies[0].unit_ticks, 50.0);
  std::vector<int> got;
  for (const Step& s : res.melodies[0].symbols.steps) got.push_back(s.duration);
  EXPECT_EQ(got, (std::vector<int>{8, 4, 12, 1, 0, 31, 2, 2, 8, 12, 8}));
}

TEST(Extract, UnitSecondsFollowsTempoAtFirstNote) {
  auto song = song_of({legato(kLine, {480}, 960)});
  song.tempo_map.push_back(midi::TempoChange{960, 1.0, 250000});  // 240 bpm from beat 2
  const auto res = extract_melodies(song);
  ASSERT_EQ(res.melodies.size(), 1u);
  EXPECT_NEAR(res.melodies[0].unit_seconds, 60.0 * 0.25 / 480, 1e-12);
}

// Mean note 400 ticks (d = 50); a 24-tick gap after note 1 (< d/2) and a 25-tick gap
// after note 4 (= d/2, quantises to 1).
std::vector<midi::Note> short_gaps() {
  const std::vector<std::int64_t> dur = {400, 360, 440, 400, 400, 400, 400, 400, 400, 400, 400};
  auto notes = legato(std::vector<int>(kLine.begin(), kLine.begin() + 11), dur);
  for (std::size_t i = 2; i < notes.size(); ++i) {
    const std::int64_t shift = i < 5 ? 24 : 49;
    notes[i].start_tick += shift;
    notes[i].end_tick += shift;
  }
  return notes;
}

std::vector<std::pair<bool, int>> rests_and_durations(const SymbolMelody& m) {
  std::vector<std::pair<bool, int>> v;
  for (const Step& s : m.steps) v.emplace_back(s.rest, s.duration);
  return v;
}

TEST(Extract, ShortRestsDroppedByDefault) {
  const auto res = extract_melodies(song_of({short_gaps()}));
  ASSERT_EQ(res.melodies.size(), 1u);
  // The 24-tick gap goes to note 1: 360 + 24 = 384 -> 8 (360 alone would be 7).
  const std::vector<std::pair<bool, int>> want = {{false, 8}, {false, 8}, {false, 9}, {false, 8},
                                                  {false, 8}, {true, 1},  {false, 8}, {false, 8},
                                                  {false, 8}, {false, 8}, {false, 8}, {false, 8}};
  EXPECT_EQ(rests_and_durations(res.melodies[0].symbols), want);
}

TEST(Extract, ShortRestsKeptWithV1Behaviour) {
  ExtractOptions v1;
  v1.drop_short_rests = false;
  const auto res = extract_melodies(song_of({short_gaps()}), v1);
  ASSERT_EQ(res.melodies.size(), 1u);
  const std::vector<std::pair<bool, int>> want = {
      {false, 8}, {false, 7}, {true, 0},  {false, 9}, {false, 8}, {false, 8}, {true, 1},
      {false, 8}, {false, 8}, {false, 8}, {false, 8}, {false, 8}, {false, 8}};
  EXPECT_EQ(rests_and_durations(res.melodies[0].symbols), want);
}

TEST(Extract, ZeroLengthNotesIgnored) {
  auto notes = legato(kLine, {480});
  notes.push_back(note(90, 480, 480));  // would be a 25-semitone jump if it counted
  const auto res = extract_melodies(song_of({notes}));
  ASSERT_EQ(res.melodies.size(), 1u);
  EXPECT_EQ(res.melodies[0].symbols.steps.size(), kLine.size());
}

TEST(Extract, UnsortedNotesAreSorted) {
  auto song = song_of({legato(kLine, {480})});
  const auto sorted = extract_melodies(song);
  std::reverse(song.tracks[0].notes.begin(), song.tracks[0].notes.end());
  const auto reversed = extract_melodies(song);
  ASSERT_EQ(sorted.melodies.size(), 1u);
  ASSERT_EQ(reversed.melodies.size(), 1u);
  EXPECT_EQ(reversed.melodies[0].symbols, sorted.melodies[0].symbols);
}

TEST(Extract, InvalidOptionsThrow) {
  const auto song = song_of({legato(kLine, {480})});
  ExtractOptions none;
  none.top = false;
  EXPECT_THROW(extract_melodies(song, none), melodl::InvalidArgument);
  ExtractOptions zero;
  zero.min_notes = 0;
  EXPECT_THROW(extract_melodies(song, zero), melodl::InvalidArgument);
  ExtractOptions nan;
  nan.max_total_rest_fraction = std::nan("");
  EXPECT_THROW(extract_melodies(song, nan), melodl::InvalidArgument);
  EXPECT_NO_THROW(extract_melodies(midi::Song{}));
}

TEST(Extract, RejectionNames) {
  EXPECT_STREQ(to_string(Rejection::too_few_notes), "too_few_notes");
  EXPECT_STREQ(to_string(Rejection::too_much_rest), "too_much_rest");
  ExtractStats a, b;
  a.kept = 2;
  a.rejected[3] = 1;
  b.kept = 1;
  b.rejected[3] = 4;
  b.tracks = 5;
  a += b;
  EXPECT_EQ(a.kept, 3u);
  EXPECT_EQ(a.rejected[3], 5u);
  EXPECT_EQ(a.tracks, 5u);
}

}  // namespace
}  // namespace melodl::encode
