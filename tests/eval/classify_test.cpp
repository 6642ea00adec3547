// tests/eval/classify_test.cpp: the n-gram corpus classifier: sequences drawn like one corpus
// are assigned to it, the confusion table counts [true][verdict] and prints as markdown, and
// bad labels are refused naming them.
#include "eval/classify.h"

#include <gtest/gtest.h>

#include <random>

#include "base/error.h"

namespace melodl::eval {
namespace {

// Sequences of a "style": steps through a pattern of symbols with a little noise.
std::vector<std::vector<int>> style(const std::vector<int>& pattern, int count, unsigned seed) {
  std::mt19937 g(seed);
  std::vector<std::vector<int>> out;
  for (int k = 0; k < count; ++k) {
    std::vector<int> s;
    const int n = 20 + static_cast<int>(g() % 20);
    for (int i = 0; i < n; ++i)
      s.push_back(g() % 10 == 0 ? static_cast<int>(g() % 8)
                                : pattern[static_cast<std::size_t>(i) % pattern.size()]);
    out.push_back(std::move(s));
  }
  return out;
}

TEST(NgramClassifier, AssignsSequencesToTheCorpusTheyWereDrawnLike) {
  NgramClassifier c(8, {.order = 3});
  c.add("up", style({0, 1, 2, 3}, 40, 1));
  c.add("down", style({7, 6, 5, 4}, 40, 2));
  c.add("mixed", style({0, 7, 0, 7, 3}, 40, 3));
  EXPECT_EQ(c.labels(), (std::vector<std::string>{"up", "down", "mixed"}));
  EXPECT_EQ(c.index("down"), 1);
  EXPECT_EQ(c.index("sideways"), -1);
  EXPECT_EQ(c.classify({0, 1, 2, 3, 0, 1, 2, 3}), 0);
  EXPECT_EQ(c.classify({7, 6, 5, 4, 7, 6, 5}), 1);
  const auto b = c.bits_per_symbol({0, 7, 0, 7, 3, 0, 7});
  ASSERT_EQ(b.size(), 3u);
  EXPECT_LT(b[2], b[0]);
  EXPECT_LT(b[2], b[1]);
  const Confusion t = confusion(c, {{"up", style({0, 1, 2, 3}, 10, 11)},
                                    {"down", style({7, 6, 5, 4}, 10, 12)},
                                    {"mixed", style({0, 7, 0, 7, 3}, 6, 13)}});
  ASSERT_EQ(t.counts.size(), 3u);
  EXPECT_EQ(t.counts[0][0], 10u);
  EXPECT_EQ(t.counts[1][1], 10u);
  EXPECT_EQ(t.counts[2][2], 6u);
  EXPECT_EQ(t.total(), 26u);
  EXPECT_EQ(t.correct(), 26u);
  EXPECT_DOUBLE_EQ(t.accuracy(), 1.0);
}

TEST(NgramClassifier, ConfusionCountsMistakesAndPrintsMarkdown) {
  NgramClassifier c(8, {.order = 2});
  c.add("up", style({0, 1, 2, 3}, 30, 1));
  c.add("down", style({7, 6, 5, 4}, 30, 2));
  // "up" samples that are really "down": every one counted in the up row, down column.
  const Confusion t = confusion(c, {{"up", style({7, 6, 5, 4}, 5, 9)}});
  EXPECT_EQ(t.counts[0][1], 5u);
  EXPECT_EQ(t.counts[0][0], 0u);
  EXPECT_EQ(t.correct(), 0u);
  EXPECT_DOUBLE_EQ(t.accuracy(), 0.0);
  const std::string md = t.markdown();
  EXPECT_NE(md.find("| samples \\ classified as | up | down | correct |"), std::string::npos) << md;
  EXPECT_NE(md.find("| up | **0** | 5 | 0 % |"), std::string::npos) << md;
  EXPECT_EQ(md.find("\n| down |"), std::string::npos) << "rows without samples are left out";
  EXPECT_NE(md.find("accuracy: 0 of 5 (0.0 %)"), std::string::npos) << md;
}

TEST(NgramClassifier, BadLabelsAreRefusedNamingThem) {
  NgramClassifier c(8);
  EXPECT_THROW(c.classify({1, 2}), InvalidArgument);
  c.add("up", style({0, 1, 2, 3}, 5, 1));
  try {
    c.add("up", style({0, 1}, 5, 2));
    FAIL() << "a label given twice was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("label 'up' is given twice"), std::string::npos);
  }
  EXPECT_THROW(c.add("empty", {}), InvalidArgument);
  EXPECT_THROW(c.add("", style({0}, 2, 3)), InvalidArgument);
  try {
    (void)confusion(c, {{"jazz", style({0, 1}, 2, 4)}});
    FAIL() << "samples with an unknown label were accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'jazz'"), std::string::npos);
  }
  EXPECT_THROW(NgramClassifier(0), InvalidArgument);
}

}  // namespace
}  // namespace melodl::eval
