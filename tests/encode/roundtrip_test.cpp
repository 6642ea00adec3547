// tests/encode/roundtrip_test.cpp: line -> SymbolMelody -> to_notes -> midi::Song ->
// extract_melodies -> the same line, for melodies the filters keep, whose mean duration
// index is exactly 8 (so the extractor's unit d equals ticks_per_unit) and whose rests
// are at least one unit (so they survive drop_short_rests). Also to_notes on its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <stdexcept>

#include "base/error.h"
#include "encode/codec.h"
#include "encode/melody.h"
#include "test_util.h"

namespace melodl::encode {
namespace {

// Durations 1..31 (not 22) summing to 8 * count (mean index 8), by random transfers from all-8.
std::vector<int> durations_with_mean_8(std::mt19937& rng, int count) {
  std::vector<int> d(static_cast<std::size_t>(count), 8);
  std::uniform_int_distribution<std::size_t> pick(0, d.size() - 1);
  std::uniform_int_distribution<int> amount(1, 7);
  for (int t = 0; t < 3 * count; ++t) {
    const std::size_t a = pick(rng), b = pick(rng);
    const int x = amount(rng);
    // 22 is avoided: v1 writes it as 'z', which v1 decoding reads as 20.
    if (a == b || d[a] - x < 1 || d[b] + x > 31 || d[a] - x == 22 || d[b] + x == 22) continue;
    d[a] -= x;
    d[b] += x;
  }
  return d;
}

// A melody every default filter keeps: distinct neighbouring pitches inside [40, 90],
// at most 3 short rests.
SymbolMelody keepable_melody(std::mt19937& rng) {
  const int count = std::uniform_int_distribution<int>(11, 60)(rng);
  const auto dur = durations_with_mean_8(rng, count);
  std::uniform_int_distribution<int> iv(-12, 12), rest_len(1, 3), coin(0, 9);
  SymbolMelody m;
  int pitch = 65, rests = 0;
  for (int i = 0; i < count; ++i) {
    if (i > 0 && rests < 3 && coin(rng) == 0) {
      m.steps.push_back(Step{true, 0, rest_len(rng)});
      ++rests;
    }
    int step = 0;
    if (i > 0) {
      do step = iv(rng);
      while (step == 0 || pitch + step < 40 || pitch + step > 90);
    }
    pitch += step;
    m.steps.push_back(Step{false, step, dur[static_cast<std::size_t>(i)]});
  }
  return m;
}

TEST(RoundTrip, LineToNotesToLine) {
  std::mt19937 rng(31337);
  RenderOptions ro;
  ro.ticks_per_unit = 60;
  ro.lowest = 0;
  ro.highest = 127;
  for (int t = 0; t < 300; ++t) {
    const SymbolMelody m = keepable_melody(rng);
    for (const Codec* codec : {&native_codec(), &melodl4j_v1_codec()}) {
      const std::string line = codec->encode(m);
      const DecodeResult d = codec->decode(line);
      ASSERT_EQ(d.melody, m);
      ro.start_pitch = 50 + t % 20;
      auto song = test::song_of({to_notes(d.melody, ro)});
      const ExtractResult res = extract_melodies(song);
      ASSERT_EQ(res.melodies.size(), 1u) << line;
      EXPECT_EQ(res.melodies[0].start_pitch, ro.start_pitch);
      EXPECT_DOUBLE_EQ(res.melodies[0].unit_ticks, 60.0);
      ASSERT_EQ(codec->encode(res.melodies[0].symbols), line);
    }
  }
}

TEST(ToNotes, TimingPitchAndFolding) {
  const SymbolMelody m{{Step{false, 7, 8}, Step{false, 12, 4}, Step{true, 0, 2}, Step{false, -5, 0},
                        Step{false, 12, 16}}};
  RenderOptions ro;
  ro.start_pitch = 80;
  ro.ticks_per_unit = 10;
  ro.highest = 90;
  ro.velocity = 100;
  const auto notes = to_notes(m, ro);
  ASSERT_EQ(notes.size(), 4u);
  // steps[0].interval is ignored; 80 + 12 = 92 > 90 folds to 80; 80 - 5 = 75; 75 + 12 = 87.
  EXPECT_EQ(notes[0].pitch, 80);
  EXPECT_EQ(notes[1].pitch, 80);
  EXPECT_EQ(notes[2].pitch, 75);
  EXPECT_EQ(notes[3].pitch, 87);
  EXPECT_EQ(notes[0].start_tick, 0);
  EXPECT_EQ(notes[0].end_tick, 80);
  EXPECT_EQ(notes[1].start_tick, 80);
  EXPECT_EQ(notes[1].end_tick, 120);
  EXPECT_EQ(notes[2].start_tick, 140);  // after a 2-unit rest
  EXPECT_EQ(notes[2].end_tick, 145);    // index 0: half a unit
  EXPECT_EQ(notes[3].start_tick, 145);
  EXPECT_EQ(notes[3].end_tick, 305);
  for (const auto& nt : notes) {
    EXPECT_EQ(nt.channel, 0);
    EXPECT_EQ(nt.velocity, 100);
    EXPECT_DOUBLE_EQ(nt.start_s, static_cast<double>(nt.start_tick) * ro.seconds_per_tick);
  }
  EXPECT_TRUE(to_notes(SymbolMelody{}).empty());
  ro.ticks_per_unit = 0;
  EXPECT_THROW(to_notes(m, ro), melodl::InvalidArgument);
  ro.ticks_per_unit = 10;
  ro.lowest = 60;
  ro.highest = 65;
  EXPECT_THROW(to_notes(m, ro), melodl::InvalidArgument);
}

TEST(ToNotes, FractionalUnitsDoNotDrift) {
  SymbolMelody m;
  for (int i = 0; i < 300; ++i) m.steps.push_back(Step{false, i % 2 ? 2 : -2, 3});
  RenderOptions ro;
  ro.ticks_per_unit = 10.0 / 3.0;
  const auto notes = to_notes(m, ro);
  EXPECT_EQ(notes.back().end_tick, 3000);
}

}  // namespace
}  // namespace melodl::encode
