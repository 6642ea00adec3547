// tests/encode/grammar_test.cpp: the native grammar automaton. Random generation masked
// by allowed() always yields a line that decodes with nothing skipped and re-encodes to
// itself; disallowed symbols throw; decoding arbitrary strings is idempotent.
#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <stdexcept>
#include <string>

#include "base/error.h"
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
  EXPECT_THROW(g.advance(native::duration_symbol(8)), melodl::InvalidArgument);
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
  EXPECT_THROW(g.advance(-1), melodl::InvalidArgument);
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

// Runs the automaton over a whole string: true when it accepts every char and ends done.
bool grammar_accepts(const std::string& s) {
  NativeGrammar g;
  for (char c : s) {
    const int sym = native::symbol_index(c);
    if (sym < 0 || !g.allows(sym)) return false;
    g.advance(sym);
  }
  return g.complete();
}

TEST(NativeGrammar, EquivalentToTheDocumentedRegex) {
  // docs/formats.md gives the grammar as ^<[0-9a-v]((_[0-9a-v])*[A-Y][0-9a-v])*>$ .
  const std::regex re("^<[0-9a-v]((_[0-9a-v])*[A-Y][0-9a-v])*>$", std::regex::extended);
  std::mt19937 rng(5);
  const std::string pool = "<>_MAY08v";  // a few symbols of each kind
  auto pick = [&](const std::string& from) {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
  };
  int matches = 0;
  for (int t = 0; t < 20000; ++t) {
    std::string s;
    if (t % 2) {  // random chars from the pool
      const int len = std::uniform_int_distribution<int>(0, 10)(rng);
      for (int i = 0; i < len; ++i) s += pick(pool);
    } else {  // a valid line of 1-4 notes, then with probability 1/2 one char replaced
      s = "<8";
      const int notes = std::uniform_int_distribution<int>(0, 3)(rng);
      for (int i = 0; i < notes; ++i) {
        while (std::uniform_int_distribution<int>(0, 3)(rng) == 0)
          s += std::string("_") + pick("0v");
        s += pick("AMY");
        s += pick("08v");
      }
      s += '>';
      if (t % 4 == 0) {
        s[std::uniform_int_distribution<std::size_t>(0, s.size() - 1)(rng)] = pick(pool);
      }
    }
    const bool m = std::regex_match(s, re);
    ASSERT_EQ(m, grammar_accepts(s)) << s;
    matches += m;
  }
  EXPECT_GT(matches, 5000);   // the comparison covered accepted lines too
  EXPECT_LT(matches, 15000);  // and rejected ones
}

// Shortest completion by breadth-first search over the automaton's 7 states.
int bfs_to_done(NativeGrammar::State from) {
  using State = NativeGrammar::State;
  std::vector<std::pair<State, int>> frontier = {{from, 0}};
  std::vector<bool> seen(8, false);
  seen[static_cast<std::size_t>(from)] = true;
  for (std::size_t i = 0; i < frontier.size(); ++i) {
    const auto [st, dist] = frontier[i];
    if (st == State::done) return dist;
    for (int sym = 0; sym < native::kAlphabetSize; ++sym) {
      State next{};
      if (NativeGrammar::transition(st, sym, &next) && !seen[static_cast<std::size_t>(next)]) {
        seen[static_cast<std::size_t>(next)] = true;
        frontier.push_back({next, dist + 1});
      }
    }
  }
  return -1;
}

TEST(NativeGrammar, SymbolsToCompleteIsTheShortestPath) {
  std::mt19937 rng(8);
  for (int t = 0; t < 200; ++t) {
    NativeGrammar g;
    while (true) {
      ASSERT_EQ(g.symbols_to_complete(), bfs_to_done(g.state()));
      if (g.complete()) break;
      const auto mask = g.allowed();
      std::vector<int> ok;
      for (int i = 0; i < native::kAlphabetSize; ++i) {
        if (mask[static_cast<std::size_t>(i)]) ok.push_back(i);
      }
      g.advance(ok[std::uniform_int_distribution<std::size_t>(0, ok.size() - 1)(rng)]);
    }
  }
}

TEST(NativeGrammar, DocumentedDecodeExamples) {
  const DecodeResult a = native_codec().decode("<8 O8x>");
  EXPECT_EQ(a.melody, native_codec().decode("<8O8>").melody);
  EXPECT_EQ(a.skipped, 2u);
}

}  // namespace
}  // namespace melodl::encode
