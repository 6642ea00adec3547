// tests/encode/harmony_test.cpp: two-part harmonies (encode/harmony.h): the voice split
// on hand-built songs (overlaps, instruments, mean-pitch order, percussion, legato fix),
// each pair filter at its threshold, the sampling grid (tempo map, average tempo, beat
// steps, octave folding, onsets), removeSilences against a string version of the
// original rule, both codecs' round trips on random harmonies, repeated notes kept by the
// native format and merged by the original one, the grammar under masked random
// generation, rendering back to a two-track song, and the Bach corpora.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "encode/harmony.h"
#include "midi/reader.h"
#include "tests/encode/test_util.h"

namespace melodl::encode {
namespace {

using test::legato;
using test::note;
using test::song_of;

// Adds a program change at tick 0 on channel `channel` of track `t`.
void set_program(midi::Song& s, std::size_t t, int channel, int program) {
  s.tracks[t].programs.push_back(midi::ProgramChange{0, 0.0, static_cast<std::uint8_t>(channel),
                                                     static_cast<std::uint8_t>(program)});
}

HarmonyOptions no_legato() {
  HarmonyOptions o;
  o.legato_fix = false;
  return o;
}

std::vector<int> pitches_of(const HarmonyVoice& v) {
  std::vector<int> p;
  for (const auto& n : v.notes) p.push_back(n.pitch);
  return p;
}

// ---------------------------------------------------------------------------
// Voice split

TEST(HarmonyVoices, OverlappingNotesOpenNewVoicesTouchingNotesDoNot) {
  // One track: 60 0-100, 64 50-150 (overlaps 60: new voice), 62 100-200 (60 ended at
  // 100: first voice), 67 150-250 (64 ended at 150: voice 2; the first voice is busy).
  midi::Song s =
      song_of({{note(60, 0, 100), note(64, 50, 150), note(62, 100, 200), note(67, 150, 250)}});
  const auto v = split_voices(s, no_legato());
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(pitches_of(v[0]), (std::vector<int>{60, 62}));
  EXPECT_EQ(pitches_of(v[1]), (std::vector<int>{64, 67}));
  EXPECT_EQ(v[0].end_tick, 200);
  EXPECT_EQ(v[1].longest_gap_ticks, 50);  // leading silence 0..50
}

TEST(HarmonyVoices, ChordNotesGoToTheFirstFreeVoiceInPitchOrder) {
  // A chord (sorted by pitch), then a single note: it joins the first voice (the lowest).
  midi::Song s =
      song_of({{note(67, 0, 100), note(60, 0, 100), note(64, 0, 100), note(72, 100, 200)}});
  const auto v = split_voices(s, no_legato());
  ASSERT_EQ(v.size(), 3u);
  // Creation order 60, 64, 67; 72 joins the 60 voice, whose mean (66) sorts it after 64.
  EXPECT_EQ(pitches_of(v[0]), (std::vector<int>{64}));
  EXPECT_EQ(pitches_of(v[1]), (std::vector<int>{60, 72}));
  EXPECT_EQ(pitches_of(v[2]), (std::vector<int>{67}));
  EXPECT_DOUBLE_EQ(v[1].mean_pitch, 66.0);
}

TEST(HarmonyVoices, DifferentInstrumentsNeverShareAVoice) {
  // Two tracks, non-overlapping in time, but different programs: two voices.
  midi::Song s = song_of({{note(60, 0, 100)}, {note(62, 100, 200, 1)}});
  set_program(s, 1, 1, 24);
  auto v = split_voices(s, no_legato());
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].program, 0);
  EXPECT_EQ(v[1].program, 24);
  // Same program on another track and channel: one voice.
  midi::Song same = song_of({{note(60, 0, 100)}, {note(62, 100, 200, 1)}});
  v = split_voices(same, no_legato());
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(pitches_of(v[0]), (std::vector<int>{60, 62}));
}

TEST(HarmonyVoices, ProgramIsTheLatestChangeOnTheChannelInTheTrack) {
  midi::Song s = song_of({{note(60, 0, 100), note(62, 200, 300)}});
  s.tracks[0].programs.push_back(midi::ProgramChange{150, 0.0, 0, 40});
  s.tracks[0].programs.push_back(midi::ProgramChange{0, 0.0, 5, 10});  // other channel
  const auto v = split_voices(s, no_legato());
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].program, 0);
  EXPECT_EQ(v[1].program, 40);
}

TEST(HarmonyVoices, OrderedByMeanPitchAscending) {
  // Three tracks of different programs, created high, low, middle.
  midi::Song s = song_of({{note(80, 0, 100)}, {note(40, 0, 100, 1)}, {note(60, 0, 100, 2)}});
  set_program(s, 0, 0, 1);
  set_program(s, 1, 1, 2);
  set_program(s, 2, 2, 3);
  const auto v = split_voices(s, no_legato());
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].program, 2);
  EXPECT_EQ(v[1].program, 3);
  EXPECT_EQ(v[2].program, 1);
}

TEST(HarmonyVoices, PercussionSkippedUnlessAsked) {
  midi::Song s = song_of({{note(60, 0, 100), note(36, 0, 100, 9)}});
  EXPECT_EQ(split_voices(s, no_legato()).size(), 1u);
  HarmonyOptions o = no_legato();
  o.skip_percussion = false;
  EXPECT_EQ(split_voices(s, o).size(), 2u);
}

TEST(HarmonyVoices, LegatoFixClosesGapsAndSmallOverlapsOnly) {
  // 60 0-100, gap, 62 150-250, 64 240-400: overlap 10 / 250 = 0.04 <= 0.25.
  midi::Song s = song_of({{note(60, 0, 100), note(62, 150, 250), note(64, 240, 400)}});
  auto v = split_voices(s);  // legato fix on (the original's default)
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].notes[0].end_tick, 150);
  EXPECT_EQ(v[0].notes[1].end_tick, 240);
  EXPECT_EQ(v[0].longest_gap_ticks, 0);
  // Without the fix: the overlap opens a second voice.
  v = split_voices(s, no_legato());
  EXPECT_EQ(v.size(), 2u);
  // A large overlap (100 / 150) is left alone by the fix.
  midi::Song big = song_of({{note(60, 0, 100), note(62, 0, 150)}});
  EXPECT_EQ(split_voices(big).size(), 2u);
}

// ---------------------------------------------------------------------------
// Pair filters, each at its threshold

// Two tracks (programs 0 and 1, lower pitch on track 0) of legato notes.
midi::Song two_voices(int lower_notes, std::int64_t lower_len, int upper_notes,
                      std::int64_t upper_len, std::int64_t upper_start = 0) {
  std::vector<int> lp, up;
  for (int i = 0; i < lower_notes; ++i) lp.push_back(48 + i % 5);
  for (int i = 0; i < upper_notes; ++i) up.push_back(72 + i % 7);
  midi::Song s = song_of({legato(lp, {lower_len}), legato(up, {upper_len}, upper_start, 1)});
  set_program(s, 1, 1, 1);
  return s;
}

HarmonyRejection only_rejection(const HarmonyResult& r) {
  EXPECT_EQ(r.stats.pairs, 1u);
  EXPECT_EQ(r.stats.kept, 0u);
  for (int k = 0; k < static_cast<int>(HarmonyRejection::count_); ++k)
    if (r.stats.rejected[static_cast<std::size_t>(k)] == 1) return static_cast<HarmonyRejection>(k);
  ADD_FAILURE() << "no rejection recorded";
  return HarmonyRejection::count_;
}

TEST(HarmonyFilters, LengthAtOneHundredNotes) {
  auto r = extract_harmonies(two_voices(100, 480, 100, 480));
  EXPECT_EQ(r.stats.kept, 1u);
  ASSERT_EQ(r.harmonies.size(), 1u);
  EXPECT_EQ(r.harmonies[0].lower_program, 0);
  EXPECT_EQ(r.harmonies[0].upper_program, 1);
  r = extract_harmonies(two_voices(100, 480, 99, 480));
  EXPECT_EQ(only_rejection(r), HarmonyRejection::too_few_notes);
  HarmonyOptions o;
  o.min_notes = 99;
  EXPECT_EQ(extract_harmonies(two_voices(100, 480, 99, 480), o).stats.kept, 1u);
}

TEST(HarmonyFilters, ActivityAtOneQuarterOfTheLaterEnd) {
  // Upper: 100 x 480 = 48000 sounding; lower ends at 400 x 480 = 192000: exactly 0.25.
  auto r = extract_harmonies(two_voices(400, 480, 100, 480));
  EXPECT_EQ(r.stats.kept, 1u);
  r = extract_harmonies(two_voices(401, 480, 100, 480));
  EXPECT_EQ(only_rejection(r), HarmonyRejection::low_activity);
  HarmonyOptions o;
  o.min_activity = 0.2;
  EXPECT_EQ(extract_harmonies(two_voices(401, 480, 100, 480), o).stats.kept, 1u);
}

TEST(HarmonyFilters, GapAtOneTenthOfTheOwnEnd) {
  // Upper starts at 5000 and sounds 100 x 450 = 45000: leading gap 5000 / 50000 = 0.10.
  HarmonyOptions o = no_legato();
  auto r = extract_harmonies(two_voices(100, 500, 100, 450, 5000), o);
  EXPECT_EQ(r.stats.kept, 1u);
  r = extract_harmonies(two_voices(100, 500, 100, 450, 5001), o);
  EXPECT_EQ(only_rejection(r), HarmonyRejection::gap_too_long);
  // An inner gap counts the same: 100 notes of 450 with one 5000-tick hole, end 50000.
  midi::Song s = two_voices(100, 500, 0, 450);
  std::vector<int> up(100, 72);
  auto first = legato({up.begin(), up.begin() + 50}, {450});
  auto second = legato({up.begin() + 50, up.end()}, {450}, 22500 + 5000);
  first.insert(first.end(), second.begin(), second.end());
  for (auto& n : first) n.channel = 1;
  midi::Song inner = song_of({s.tracks[0].notes, first});
  set_program(inner, 1, 1, 1);
  r = extract_harmonies(inner, o);
  EXPECT_EQ(r.voices[1].longest_gap_ticks, 5000);
  EXPECT_EQ(r.stats.kept, 1u);
  o.max_gap = 0.09;
  EXPECT_EQ(only_rejection(extract_harmonies(inner, o)), HarmonyRejection::gap_too_long);
}

TEST(HarmonyFilters, InstrumentSetsAndMinimumSteps) {
  HarmonyOptions o;
  o.upper_programs = {24, 25};
  EXPECT_EQ(only_rejection(extract_harmonies(two_voices(100, 480, 100, 480), o)),
            HarmonyRejection::instruments);
  o.upper_programs = {1};
  o.lower_programs = {0};
  EXPECT_EQ(extract_harmonies(two_voices(100, 480, 100, 480), o).stats.kept, 1u);
  // 100 notes of 480 ticks = 100 x 8 steps of 1/16 s; require one more.
  o.min_steps = 801;
  EXPECT_EQ(only_rejection(extract_harmonies(two_voices(100, 480, 100, 480), o)),
            HarmonyRejection::too_short);
  o.min_steps = 800;
  const auto r = extract_harmonies(two_voices(100, 480, 100, 480), o);
  ASSERT_EQ(r.harmonies.size(), 1u);
  EXPECT_EQ(r.harmonies[0].harmony.steps(), 800u);
  EXPECT_DOUBLE_EQ(r.harmonies[0].step_seconds, 0.0625);
}

TEST(HarmonyFilters, StatsCountEveryPairOnce) {
  // Four voices (programs 0..3), two of them too short: 6 pairs, 1 kept, 5 too_few_notes.
  std::vector<int> p100(100, 60), p10(10, 60);
  midi::Song s = song_of({legato(p100, {480}), legato(p100, {480}, 0, 1), legato(p10, {480}, 0, 2),
                          legato(p10, {480}, 0, 3)});
  for (int t = 1; t < 4; ++t) set_program(s, static_cast<std::size_t>(t), t, t);
  const auto r = extract_harmonies(s);
  EXPECT_EQ(r.stats.voices, 4u);
  EXPECT_EQ(r.stats.pairs, 6u);
  EXPECT_EQ(r.stats.kept, 1u);
  EXPECT_EQ(r.stats.rejected[static_cast<int>(HarmonyRejection::too_few_notes)], 5u);
}

TEST(HarmonyFilters, BadOptionsThrow) {
  const midi::Song s = two_voices(10, 480, 10, 480);
  HarmonyOptions o;
  o.step_seconds = 0.0;
  EXPECT_THROW(extract_harmonies(s, o), melodl::InvalidArgument);
  o = {};
  o.max_gap = std::nan("");
  EXPECT_THROW(extract_harmonies(s, o), melodl::InvalidArgument);
  o = {};
  o.min_notes = -1;
  EXPECT_THROW(extract_harmonies(s, o), melodl::InvalidArgument);
}

// ---------------------------------------------------------------------------
// Sampling

std::string show(const std::vector<HarmonySample>& v) {
  std::string out;
  for (const auto& s : v) {
    if (s.rest()) {
      out += '.';
    } else {
      out += s.onset ? 'o' : '-';
      out += std::to_string(s.pitch);
      out += ' ';
    }
  }
  return out;
}

TEST(HarmonySampling, OnsetsHoldsRestsAndOctaveFolding) {
  // 120 bpm, 480 PPQ: a step of 1/16 s = 60 ticks. 60 for 2 steps, 60 again (repeat)
  // for 1, a rest of 1, 90 (folded to 78) for 1, 30 (folded to 42) for 1.
  midi::Song s =
      song_of({{note(60, 0, 120), note(60, 120, 180), note(90, 240, 300), note(30, 300, 360)}});
  const auto v = sample_voice(s, s.tracks[0].notes, HarmonyOptions{});
  EXPECT_EQ(show(v), "o60 -60 o60 .o78 o42 ");
}

TEST(HarmonySampling, NotesBetweenGridPointsAreLost) {
  midi::Song s = song_of({{note(60, 0, 60), note(62, 70, 100), note(64, 120, 180)}});
  EXPECT_EQ(show(sample_voice(s, s.tracks[0].notes, HarmonyOptions{})), "o60 .o64 ");
}

TEST(HarmonySampling, TempoMapAverageTempoAndBeatSteps) {
  // 120 bpm for 960 ticks (1 s), then 60 bpm: the second half's steps are 30 ticks.
  midi::Song s = song_of({{note(60, 0, 960), note(62, 960, 1920)}});
  s.tempo_map.push_back(midi::TempoChange{960, 1.0, 1000000});
  HarmonyOptions o;
  auto v = sample_voice(s, s.tracks[0].notes, o);
  ASSERT_EQ(v.size(), 48u);  // 16 steps in the first second, 32 in the next 2 s
  EXPECT_EQ(v[16].pitch, 62);
  EXPECT_TRUE(v[16].onset);
  // Average tempo: 3 s over 1920 ticks = 1562 us per tick (integer), 40.01 ticks a step.
  o.average_tempo = true;
  v = sample_voice(s, s.tracks[0].notes, o);
  EXPECT_EQ(v.size(), 48u);  // ceil(1920 / 40.0128) = 48
  EXPECT_EQ(v[24].pitch, 62);
  EXPECT_EQ(v[23].pitch, 60);  // 23 x 40.01 = 920 < 960
  // Beat-relative: 4 steps per beat = 120 ticks, whatever the tempo.
  o.steps_per_beat = 4;
  v = sample_voice(s, s.tracks[0].notes, o);
  ASSERT_EQ(v.size(), 16u);
  EXPECT_EQ(v[8].pitch, 62);
}

TEST(HarmonySampling, StopsWhenEitherVoiceRunsOut) {
  std::vector<int> p(100, 60);
  midi::Song s = song_of({legato(p, {480}), legato(p, {240}, 0, 1)});
  set_program(s, 1, 1, 1);
  HarmonyOptions o;
  o.min_steps = 0;
  const auto r = extract_harmonies(s, o);
  ASSERT_EQ(r.harmonies.size(), 1u);
  EXPECT_EQ(r.harmonies[0].harmony.steps(), 400u);  // the 240-tick voice: 24000 / 60
}

// ---------------------------------------------------------------------------
// removeSilences against a direct string version of MELODL4J's rule

std::string remove_silences_string(const std::string& line, int n) {
  std::string out;
  std::size_t i = 0;
  const auto un = static_cast<std::size_t>(n);
  while (i + 1 < line.size()) {
    if (i + un <= line.size() && line.substr(i, un) == std::string(un, ' ')) {
      i += un / 2;
    } else {
      out += line.substr(i, 2);
      i += 2;
    }
  }
  return out;
}

SymbolHarmony random_harmony(std::mt19937& rng, std::size_t steps, double rest_p,
                             double repeat_p = 0.2) {
  SymbolHarmony h;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_int_distribution<int> pitch(20, 100);
  for (auto* voice : {&h.lower, &h.upper}) {
    int prev = -1;
    for (std::size_t k = 0; k < steps; ++k) {
      HarmonySample s;
      const double x = u(rng);
      if (x < rest_p) {
      } else if (prev >= 0 && x < rest_p + 0.3) {
        s = {prev, false};  // hold
      } else if (prev >= 0 && x < rest_p + 0.3 + repeat_p) {
        s = {prev, true};  // repeated note
      } else {
        s = {pitch(rng), true};
      }
      prev = s.pitch;
      voice->push_back(s);
    }
  }
  return h;
}

TEST(HarmonySilences, MatchesTheOriginalStringRule) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    // Long silent stretches in both voices: rests with probability 0.9.
    const SymbolHarmony h = random_harmony(rng, 1 + rng() % 120, 0.9);
    const std::string line = original_harmony_codec().encode(h);
    EXPECT_EQ(original_harmony_codec().encode(remove_silences(h)), remove_silences_string(line, 16))
        << "line '" << line << "'";
  }
}

// ---------------------------------------------------------------------------
// Codecs

TEST(HarmonyCodecs, NativeRoundTripOnRandomHarmonies) {
  std::mt19937 rng(11);
  const HarmonyCodec& c = native_harmony_codec();
  for (int trial = 0; trial < 300; ++trial) {
    const SymbolHarmony h = random_harmony(rng, 1 + rng() % 200, 0.2);
    const std::string line = c.encode(h);
    EXPECT_EQ(line.find(' '), std::string::npos);
    EXPECT_EQ(line.front(), '<');
    EXPECT_EQ(line.back(), '>');
    EXPECT_EQ(line.size(), 2 * h.steps() + 2);
    const auto d = c.decode(line);
    EXPECT_EQ(d.skipped, 0u);
    EXPECT_EQ(d.substituted, 0u);
    EXPECT_EQ(d.harmony, normalize(h));
    EXPECT_EQ(c.encode(d.harmony), line);
  }
}

TEST(HarmonyCodecs, OriginalRoundTripMergesRepeatsOnly) {
  std::mt19937 rng(13);
  const HarmonyCodec& c = original_harmony_codec();
  for (int trial = 0; trial < 300; ++trial) {
    const SymbolHarmony h = random_harmony(rng, 1 + rng() % 200, 0.2);
    const std::string line = c.encode(h);
    EXPECT_EQ(line.size(), 2 * h.steps());
    // What the format can say: repeated onsets become holds.
    SymbolHarmony merged = normalize(h);
    for (auto* v : {&merged.lower, &merged.upper})
      for (auto& s : *v) s.onset = false;
    merged = normalize(merged);
    const auto d = c.decode(line);
    EXPECT_EQ(d.skipped, 0u);
    EXPECT_EQ(d.harmony, merged);
    EXPECT_EQ(c.encode(d.harmony), line);
  }
}

TEST(HarmonyCodecs, RepeatedNotesKeptByNativeMergedByOriginal) {
  // Lower: C3 struck twice (2 steps each); upper: E4 held 4 steps.
  SymbolHarmony h;
  h.lower = {{48, true}, {48, false}, {48, true}, {48, false}};
  h.upper = {{64, true}, {64, false}, {64, false}, {64, false}};
  const std::string native = native_harmony_codec().encode(h);
  EXPECT_EQ(native, "<Mc--M--->");  // 48 = 'M', 64 = 'c'
  const std::string original = original_harmony_codec().encode(h);
  EXPECT_EQ(original, "M]M]M]M]");  // 64 = 'A' + 28 = ']'
  const auto lower_native =
      harmony_voice_notes(native_harmony_codec().decode(native).harmony.lower, 0);
  const auto lower_original =
      harmony_voice_notes(original_harmony_codec().decode(original).harmony.lower, 0);
  ASSERT_EQ(lower_native.size(), 2u);
  EXPECT_EQ(lower_native[1].start_tick, 120);
  ASSERT_EQ(lower_original.size(), 1u);
  EXPECT_EQ(lower_original[0].end_tick, 240);
}

TEST(HarmonyCodecs, NativeDecodeSkipsAndCountsInvalidSymbols) {
  const HarmonyCodec& c = native_harmony_codec();
  // Space and 'x' are not symbols; '<' twice; '-' on a resting voice reads as a rest.
  auto d = c.decode("<M <c-x->");
  EXPECT_EQ(d.skipped, 3u);
  EXPECT_EQ(d.substituted, 0u);
  EXPECT_EQ(c.encode(d.harmony), "<Mc-->");
  d = c.decode("<-.M>");
  EXPECT_EQ(d.substituted, 1u);
  EXPECT_EQ(d.skipped, 1u);  // the unfinished pair "M"
  EXPECT_EQ(c.encode(d.harmony), "<..>");
  // No start marker, no end marker, an unfinished pair, text after the end.
  d = c.decode("McM");
  EXPECT_EQ(d.skipped, 1u);
  EXPECT_EQ(c.encode(d.harmony), "<Mc>");
  d = c.decode("<Mc>Mc");
  EXPECT_EQ(d.skipped, 2u);
  EXPECT_EQ(d.harmony.steps(), 1u);
  // The original codec skips anything outside ' ' and 'A'..'q'.
  const auto o = original_harmony_codec().decode("Mc\rr~M");
  EXPECT_EQ(o.skipped, 3u + 1u);  // '\r', 'r', '~', then the odd 'M'
  EXPECT_EQ(o.harmony.steps(), 1u);
}

TEST(HarmonyCodecs, AlphabetsAndNames) {
  const auto n = native_harmony_codec().alphabet();
  ASSERT_EQ(n.size(), static_cast<std::size_t>(native_harmony::kAlphabetSize));
  for (std::size_t i = 0; i < n.size(); ++i) {
    EXPECT_EQ(native_harmony::symbol_index(n[i]), static_cast<int>(i));
    EXPECT_TRUE(std::isgraph(static_cast<unsigned char>(n[i])));
    EXPECT_NE(n[i], '/');
    EXPECT_NE(n[i], '#');
  }
  EXPECT_EQ(native_harmony::symbol_char(native_harmony::onset_symbol(84)), 'w');
  EXPECT_THROW(native_harmony::symbol_char(53), melodl::InvalidArgument);
  const auto o = original_harmony_codec().alphabet();
  ASSERT_EQ(o.size(), 50u);
  EXPECT_EQ(o[0], ' ');
  EXPECT_EQ(o[1], 'A');
  EXPECT_EQ(o[49], 'q');
  EXPECT_EQ(harmony_codec_by_name("native").name(), "native");
  EXPECT_EQ(harmony_codec_by_name("original-harmony").name(), "original-harmony");
  EXPECT_THROW(harmony_codec_by_name("melodl4j-v1"), melodl::InvalidArgument);
  EXPECT_THROW(native_harmony_codec().encode(SymbolHarmony{}), melodl::InvalidArgument);
  SymbolHarmony uneven;
  uneven.lower = {{60, true}};
  EXPECT_THROW(native_harmony_codec().encode(uneven), melodl::InvalidArgument);
}

// ---------------------------------------------------------------------------
// Grammar

TEST(HarmonyGrammarTest, MaskedRandomGenerationAlwaysDecodes) {
  std::mt19937 rng(17);
  const HarmonyCodec& c = native_harmony_codec();
  std::vector<bool> mask;
  for (int trial = 0; trial < 300; ++trial) {
    HarmonyGrammar g;
    std::string line;
    const int budget = 4 + static_cast<int>(rng() % 300);
    while (!g.complete()) {
      g.allowed(mask);
      std::vector<int> ok;
      for (int s = 0; s < native_harmony::kAlphabetSize; ++s)
        if (mask[static_cast<std::size_t>(s)]) ok.push_back(s);
      ASSERT_FALSE(ok.empty());
      int sym = ok[rng() % ok.size()];
      // Close the line once the budget left reaches the shortest closing path.
      const int left = budget - static_cast<int>(line.size());
      if (left <= g.symbols_to_complete()) {
        sym = g.allows(native_harmony::kEnd) ? native_harmony::kEnd
              : !g.started()                 ? native_harmony::kStart
                                             : native_harmony::kRest;
      }
      g.advance(sym);
      line += native_harmony::symbol_char(sym);
    }
    EXPECT_LE(line.size(), static_cast<std::size_t>(budget) + 1);
    const auto d = c.decode(line);
    EXPECT_EQ(d.skipped, 0u) << line;
    EXPECT_EQ(d.substituted, 0u) << line;
    EXPECT_EQ(c.encode(d.harmony), line);
    EXPECT_EQ(d.harmony.steps() * 2 + 2, line.size());
  }
}

TEST(HarmonyGrammarTest, ParityHoldsAndCompletion) {
  using namespace native_harmony;
  HarmonyGrammar g;
  EXPECT_EQ(g.symbols_to_complete(), 4);
  EXPECT_FALSE(g.allows(kRest));
  g.advance(kStart);
  EXPECT_EQ(g.symbols_to_complete(), 3);
  EXPECT_FALSE(g.allows(kEnd));   // at least one pair
  EXPECT_FALSE(g.allows(kHold));  // nothing sounds yet
  g.advance(onset_symbol(48));
  EXPECT_TRUE(g.lower_next() == false);
  EXPECT_FALSE(g.allows(kEnd));   // odd position: the pair is unfinished
  EXPECT_FALSE(g.allows(kHold));  // the upper voice has not sounded
  EXPECT_EQ(g.symbols_to_complete(), 2);
  g.advance(kRest);
  EXPECT_TRUE(g.allows(kHold));  // lower sounds
  EXPECT_TRUE(g.allows(kEnd));
  g.advance(kHold);
  EXPECT_FALSE(g.allows(kHold));  // upper rests
  EXPECT_THROW(g.advance(kHold), melodl::InvalidArgument);
  g.advance(onset_symbol(60));
  g.advance(kEnd);
  EXPECT_TRUE(g.complete());
  EXPECT_EQ(g.allowed(), std::vector<bool>(kAlphabetSize, false));
}

TEST(HarmonyGrammarTest, AccompanyKeepsTheGivenUpperVoice) {
  std::mt19937 rng(23);
  std::vector<bool> mask;
  for (int trial = 0; trial < 200; ++trial) {
    const SymbolHarmony given = normalize(random_harmony(rng, 1 + rng() % 150, 0.3));
    AccompanyGrammar g(given.upper);
    std::string line;
    while (!g.complete()) {
      g.allowed(mask);
      std::vector<int> ok;
      for (int s = 0; s < native_harmony::kAlphabetSize; ++s)
        if (mask[static_cast<std::size_t>(s)]) ok.push_back(s);
      ASSERT_FALSE(ok.empty());
      if (g.forced() >= 0) {
        ASSERT_EQ(ok.size(), 1u);
        EXPECT_EQ(ok[0], g.forced());
      }
      const int sym = ok[rng() % ok.size()];
      g.advance(sym);
      line += native_harmony::symbol_char(sym);
    }
    const auto d = native_harmony_codec().decode(line);
    EXPECT_EQ(d.skipped, 0u);
    EXPECT_EQ(d.substituted, 0u);
    EXPECT_EQ(d.harmony.upper, given.upper);
    EXPECT_EQ(d.harmony.steps(), given.steps());
  }
  EXPECT_THROW(AccompanyGrammar({}), melodl::InvalidArgument);
  AccompanyGrammar g({{60, true}});
  EXPECT_THROW(g.advance(native_harmony::kRest), melodl::InvalidArgument);  // '<' first
  g.advance(native_harmony::kStart);
  EXPECT_FALSE(g.allows(native_harmony::kEnd));
  g.advance(native_harmony::kRest);
  EXPECT_EQ(g.forced(), native_harmony::onset_symbol(60));
  EXPECT_FALSE(g.allows(native_harmony::kRest));
  g.advance(native_harmony::onset_symbol(60));
  EXPECT_EQ(g.forced(), native_harmony::kEnd);
  g.advance(native_harmony::kEnd);
  EXPECT_TRUE(g.complete());
  EXPECT_EQ(native_voice_symbols({{90, true}, {90, false}, {}, {90, false}}),
            (std::vector<int>{native_harmony::onset_symbol(78), native_harmony::kHold,
                              native_harmony::kRest, native_harmony::onset_symbol(78)}));
}

// ---------------------------------------------------------------------------
// Rendering

TEST(HarmonyVoiceMelody, NotesRestsIntervalsAndDurations) {
  // rest, C4 onset + 2 holds, rest x2, C5 (+12: kept), E4 (-8), 40 steps of G4, rest.
  std::vector<HarmonySample> v = {{}, {60, true}, {60, false}, {60, false},
                                  {}, {},         {72, true},  {64, true}};
  for (int k = 0; k < 40; ++k) v.push_back({67, k == 0});
  v.push_back({});
  const SymbolMelody m = voice_melody(v);
  ASSERT_EQ(m.steps.size(), 5u);                // leading and trailing rests dropped
  EXPECT_EQ(m.steps[0], (Step{false, 0, 2}));   // 3 steps -> index 2
  EXPECT_EQ(m.steps[1], (Step{true, 0, 1}));    // 2 rest steps
  EXPECT_EQ(m.steps[2], (Step{false, 12, 0}));  // one step
  EXPECT_EQ(m.steps[3], (Step{false, -8, 0}));
  EXPECT_EQ(m.steps[4], (Step{false, 3, 31}));  // 40 steps capped at index 31
  // A hold after a rest starts a note (normalized); an octave and more folds into +-12.
  const SymbolMelody h = voice_melody({{}, {50, false}, {50, false}, {75, true}});
  ASSERT_EQ(h.steps.size(), 2u);
  EXPECT_EQ(h.steps[0], (Step{false, 0, 1}));
  EXPECT_EQ(h.steps[1], (Step{false, 13 - 12, 0}));  // 75 - 50 = 25 -> 13 -> 1
  EXPECT_TRUE(voice_melody({{}, {}}).steps.empty());
}

TEST(HarmonyRender, TwoTrackSongSamplesBackToTheSameHarmony) {
  std::mt19937 rng(19);
  for (int trial = 0; trial < 50; ++trial) {
    const SymbolHarmony h = normalize(random_harmony(rng, 1 + rng() % 100, 0.2));
    const midi::Song s = harmony_to_song(h);
    ASSERT_EQ(s.tracks.size(), 2u);
    EXPECT_EQ(s.tracks[0].programs.at(0).program, 0);
    EXPECT_EQ(s.tracks[1].programs.at(0).program, 24);
    for (const auto& n : s.tracks[1].notes) EXPECT_EQ(n.channel, 1);
    HarmonyOptions o;  // 1/16 s at the song's 120 bpm = the default 60 ticks a step
    EXPECT_EQ(sample_voice(s, s.tracks[0].notes, o, h.steps()), h.lower);
    EXPECT_EQ(sample_voice(s, s.tracks[1].notes, o, h.steps()), h.upper);
  }
  HarmonyRenderOptions bad;
  bad.ticks_per_step = 0;
  EXPECT_THROW(harmony_voice_notes({}, 0, bad), melodl::InvalidArgument);
  EXPECT_THROW(harmony_voice_notes({}, 16), melodl::InvalidArgument);
}

// ---------------------------------------------------------------------------
// Corpora

namespace fs = std::filesystem;

std::vector<std::string> midi_files(const fs::path& root) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (e.is_regular_file() && (ext == ".mid" || ext == ".midi"))
      files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

HarmonyStats run_corpus(const fs::path& root, std::size_t* steps) {
  HarmonyStats total;
  for (const std::string& f : midi_files(root)) {
    auto song = midi::read_file(f);
    if (!song.ok()) continue;
    const HarmonyResult r = extract_harmonies(*song);
    total += r.stats;
    for (const auto& h : r.harmonies) {
      *steps += h.harmony.steps();
      EXPECT_GE(h.harmony.steps(), 50u);
      const auto d = native_harmony_codec().decode(native_harmony_codec().encode(h.harmony));
      EXPECT_EQ(d.harmony, h.harmony);
    }
  }
  return total;
}

std::string describe(const HarmonyStats& s, std::size_t steps) {
  std::ostringstream out;
  out << "files " << s.files << ", voices " << s.voices << ", pairs " << s.pairs << ", kept "
      << s.kept << ", steps " << steps;
  for (int k = 0; k < static_cast<int>(HarmonyRejection::count_); ++k)
    out << ", " << to_string(static_cast<HarmonyRejection>(k)) << " "
        << s.rejected[static_cast<std::size_t>(k)];
  return out.str();
}

TEST(HarmonyCorpus, SharedBachCorporaCountsAddUp) {
  const fs::path root = fs::path(MELODL_SOURCE_DIR) / ".." / "shared" / "corpora" / "bach";
  if (!fs::exists(root)) GTEST_SKIP() << "../shared/corpora/bach not present";
  std::size_t steps = 0;
  const HarmonyStats s = run_corpus(root, &steps);
  std::size_t rejected = 0;
  for (auto r : s.rejected) rejected += r;
  EXPECT_EQ(s.kept + rejected, s.pairs);
  EXPECT_GT(s.files, 400u);
  EXPECT_GT(s.kept, 100u);
  std::cout << "[ harmony ] ../shared/corpora/bach: " << describe(s, steps) << "\n";
}

}  // namespace
}  // namespace melodl::encode
