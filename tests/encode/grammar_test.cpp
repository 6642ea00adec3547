// tests/encode/grammar_test.cpp: the native grammar automaton. Random generation masked
// by allowed() always yields a line that decodes with nothing skipped and re-encodes to
// itself; disallowed symbols throw; decoding arbitrary strings is idempotent.
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>

#include "encode/codec.h"
#include "encode/grammar.h"
#include "test_util.h"

namespace melodl::encode {
namespace {

TEST(NativeGrammar, StartAllowsOnlyStartMarker) {
  NativeGrammar g;
  const auto mask = g.allowed();
  ASSERT_EQ(mask.size(), static_cast<std::size_t>(native::kAlphabetSize));
  for (int i = 0; i < native::kAlphabetSize; ++i) {
    EXPECT_EQ(mask[static_cast<std::size_t>(i)], i == native::kStart) << i;
  }
  EXPECT_THROW(g.advance(native::duration_symbol(8)), std::invalid_argument);
  g.advance(native::kStart);
  EXPECT_EQ(g.state(), NativeGrammar::State::first_duration);
  EXPECT_FALSE(g.allows(native::kEnd));  // no empty melodies
  g.advance(native::duration_symbol(8));
  EXPECT_TRUE(g.allows(native::kEnd));
  EXPECT_TRUE(g.allows(native::kRest));
  EXPECT_TRUE(g.allows(native::interval_symbol(-12)));
  EXPECT_FALSE(g.allows(native::duration_symbol(3)));
  g.advance(native::kRest);
  g.advance(native::duration_symbol(3));
  EXPECT_FALSE(g.allows(native::kEnd));  // a rest cannot end a melody
  EXPECT_TRUE(g.allows(native::kRest));  // but may follow a rest
  g.advance(native::interval_symbol(5));
  g.advance(native::duration_symbol(31));
  g.advance(native::kEnd);
  EXPECT_TRUE(g.complete());
  EXPECT_EQ(g.allowed(), std::vector<bool>(native::kAlphabetSize, false));
  EXPECT_THROW(g.advance(-1), std::invalid_argument);
  g.reset();
  EXPECT_EQ(g.state(), NativeGrammar::State::start);
}

TEST(NativeGrammar, MaskedRandomGenerationAlwaysDecodes) {
  std::mt19937 rng(12345);
  std::vector<bool> mask;
  std::vector<int> choices;
  for (int t = 0; t < 2000; ++t) {
    NativeGrammar g;
    std::string line;
    const std::size_t target = std::uniform_int_distribution<std::size_t>(2, 120)(rng);
    while (!g.complete()) {
      g.allowed(mask);
      choices.clear();
      for (int i = 0; i < native::kAlphabetSize; ++i) {
        if (mask[static_cast<std::size_t>(i)]) choices.push_back(i);
      }
      ASSERT_FALSE(choices.empty()) << line;
      int sym = choices[std::uniform_int_distribution<std::size_t>(0, choices.size() - 1)(rng)];
      if (line.size() >= target && g.allows(native::kEnd)) sym = native::kEnd;
      g.advance(sym);
      line += native::symbol_char(sym);
    }
    const DecodeResult d = native_codec().decode(line);
    ASSERT_EQ(d.skipped, 0u) << line;
    ASSERT_FALSE(d.melody.steps.empty()) << line;
    ASSERT_EQ(native_codec().encode(d.melody), line);
  }
}

TEST(NativeGrammar, DecodingArbitraryStringsIsIdempotent) {
  // Whatever a network emits, decode gives a well-formed melody whose own line decodes
  // cleanly back to it.
  std::mt19937 rng(4242);
  const auto alpha = native_codec().alphabet();
  for (int t = 0; t < 2000; ++t) {
    std::string s;
    const int len = std::uniform_int_distribution<int>(0, 80)(rng);
    for (int i = 0; i < len; ++i) {
      if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) {
        s += static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
      } else {
        s += alpha[std::uniform_int_distribution<std::size_t>(0, alpha.size() - 1)(rng)];
      }
    }
    const DecodeResult d = native_codec().decode(s);
    ASSERT_LE(d.skipped, s.size());
    if (d.melody.steps.empty()) continue;
    ASSERT_FALSE(d.melody.steps.front().rest);
    ASSERT_FALSE(d.melody.steps.back().rest);
    const DecodeResult again = native_codec().decode(native_codec().encode(d.melody));
    ASSERT_EQ(again.melody, d.melody);
    ASSERT_EQ(again.skipped, 0u);
  }
}

}  // namespace
}  // namespace melodl::encode
