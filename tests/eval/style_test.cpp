// tests/eval/style_test.cpp: style histograms, their overlap, and the invalid
// symbol rate (eval/style.h). Run: <build>/tests/eval/eval_test
#include "eval/style.h"
#include "base/error.h"

#include <gtest/gtest.h>

namespace mp = melodl::eval;
using melodl::encode::Step;
using melodl::encode::SymbolMelody;

namespace {
SymbolMelody melody(const std::vector<Step>& steps) { return SymbolMelody{steps}; }
}  // namespace

TEST(Style, HistogramsCountNotesIntervalsAndRests) {
  const auto s =
      melodl::eval::style_of({melody({{false, 7, 8}, {false, 2, 8}, {true, 0, 4}, {false, -2, 4}}),
                              melody({{false, 0, 16}, {false, 2, 8}})});
  EXPECT_EQ(s.note_count, 5u);
  EXPECT_EQ(s.interval_count, 3u);  // first notes excluded
  EXPECT_EQ(s.rest_count, 1u);
  EXPECT_DOUBLE_EQ(s.intervals[12 + 2], 2.0 / 3);
  EXPECT_DOUBLE_EQ(s.intervals[12 - 2], 1.0 / 3);
  EXPECT_DOUBLE_EQ(s.intervals[12 + 7], 0.0);
  EXPECT_DOUBLE_EQ(s.durations[8], 3.0 / 5);
  EXPECT_DOUBLE_EQ(s.durations[4], 1.0 / 5);
  EXPECT_DOUBLE_EQ(s.durations[16], 1.0 / 5);
  EXPECT_DOUBLE_EQ(s.rests[4], 1.0);
}

TEST(Style, OverlapIsOneForIdenticalSetsAndZeroForDisjoint) {
  const std::vector<SymbolMelody> a = {melody({{false, 0, 8}, {false, 2, 8}, {false, -1, 4}}),
                                       melody({{false, 0, 2}, {false, 5, 2}})};
  const std::vector<SymbolMelody> b = {melody({{false, 0, 12}, {false, -7, 12}, {false, 9, 31}})};
  const auto sa = melodl::eval::style_of(a), sb = melodl::eval::style_of(b);
  const auto same = melodl::eval::compare_style(sa, sa);
  EXPECT_DOUBLE_EQ(same.intervals, 1.0);
  EXPECT_DOUBLE_EQ(same.durations, 1.0);
  EXPECT_DOUBLE_EQ(same.rests, 1.0);  // neither has rests
  const auto disjoint = melodl::eval::compare_style(sa, sb);
  EXPECT_DOUBLE_EQ(disjoint.intervals, 0.0);
  EXPECT_DOUBLE_EQ(disjoint.durations, 0.0);
  // Partial: a has intervals {+2, -1, +5} (1/3 each), c has {+2, +9} (1/2 each).
  const std::vector<SymbolMelody> c = {melody({{false, 0, 8}, {false, 2, 8}, {false, 9, 8}})};
  EXPECT_NEAR(
      melodl::eval::compare_style(melodl::eval::style_of(a), melodl::eval::style_of(c)).intervals,
      1.0 / 3, 1e-12);
}

TEST(Style, InvalidSymbolRate) {
  std::vector<melodl::encode::DecodeResult> dec(3);
  dec[0].skipped = 2;
  dec[2].skipped = 1;
  const auto r = melodl::eval::invalid_symbol_rate(dec, {10, 5, 5});
  EXPECT_EQ(r.symbols, 20u);
  EXPECT_EQ(r.skipped, 3u);
  EXPECT_DOUBLE_EQ(r.rate(), 0.15);
  EXPECT_DOUBLE_EQ(
      melodl::eval::invalid_symbol_rate(std::vector<melodl::encode::DecodeResult>{}, {}).rate(),
      0.0);
  EXPECT_THROW(melodl::eval::invalid_symbol_rate(dec, {1, 2}), melodl::InvalidArgument);
  EXPECT_THROW(melodl::eval::invalid_symbol_rate(dec, {1, 5, 5}), melodl::InvalidArgument);
}
