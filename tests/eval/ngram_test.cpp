// tests/eval/ngram_test.cpp: the n-gram baseline (eval/ngram.h):
// exact normalisation, discounts by hand, learning a deterministic sequence, Kneser-Ney
// against add-one, and the bits-per-symbol / bits-per-note arithmetic.
// Run: <build>/tests/eval/eval_test
#include "eval/ngram.h"
#include "base/error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace mp = melodl::eval;

namespace {

std::vector<std::vector<int>> random_sequences(std::mt19937& rng, int count, int vocab) {
  std::uniform_int_distribution<int> len(0, 30), sym(0, vocab - 1);
  std::vector<std::vector<int>> out(static_cast<std::size_t>(count));
  for (auto& s : out) {
    s.resize(static_cast<std::size_t>(len(rng)));
    for (int& v : s) v = sym(rng);
  }
  return out;
}

// Sequences from a fixed random second-order Markov chain with peaked transitions.
std::vector<std::vector<int>> markov_sequences(std::mt19937& rng, int count, int vocab,
                                               std::size_t length) {
  std::mt19937 table_rng(99);
  std::vector<std::discrete_distribution<int>> next;
  for (int c = 0; c < vocab * vocab; ++c) {
    std::vector<double> w(static_cast<std::size_t>(vocab));
    std::exponential_distribution<double> e(1.0);
    for (auto& x : w) x = std::pow(e(table_rng), 4.0);  // a few likely successors
    next.emplace_back(w.begin(), w.end());
  }
  std::vector<std::vector<int>> out;
  for (int i = 0; i < count; ++i) {
    std::vector<int> s = {0, 1};
    while (s.size() < length)
      s.push_back(next[static_cast<std::size_t>(s[s.size() - 2] * vocab + s.back())](rng));
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST(Ngram, ProbabilitiesSumToOneForAnyContext) {
  std::mt19937 rng(11);
  const int vocab = 9;
  // Train on ids 0..6 only: 7 and 8 are unseen symbols.
  const auto train = random_sequences(rng, 40, 7);
  for (auto sm : {melodl::eval::Smoothing::kneser_ney, melodl::eval::Smoothing::add_one}) {
    for (int order = 1; order <= 6; ++order) {
      melodl::eval::NgramModel lm(vocab, {order, sm});
      lm.train(train);
      std::uniform_int_distribution<int> len(0, 8), sym(0, vocab - 1);
      for (int rep = 0; rep < 40; ++rep) {
        std::vector<int> h(static_cast<std::size_t>(len(rng)));
        for (int& v : h) v = rep % 2 ? sym(rng) : std::min(sym(rng), 6);
        double sum = 0.0;
        for (int w = 0; w <= vocab; ++w) {
          const double p = lm.probability(h, w);
          ASSERT_GT(p, 0.0);
          sum += p;
        }
        ASSERT_NEAR(sum, 1.0, 1e-12) << "order " << order << " rep " << rep;
      }
    }
  }
}

TEST(Ngram, UnigramDiscountsAndProbabilityByHand) {
  // Order 1 keeps raw counts: 0:3, 1:2, 2:1, end:1, so n1 = 2, n2 = 1, n3 = 1, n4 = 0;
  // Y = 2/(2+2) = 0.5, D1 = 1 - 2Y n2/n1 = 0.5, D2 = 2 - 3Y n3/n2 = 0.5,
  // D3 = 3 - 4Y n4/n3 = 3, kept below 3 (2.95) so a count of 3 keeps some mass.
  melodl::eval::NgramModel lm(3, {1, melodl::eval::Smoothing::kneser_ney});
  lm.train({{0, 0, 0, 1, 1, 2}});
  const auto d = lm.discounts(1);
  EXPECT_DOUBLE_EQ(d[0], 0.5);
  EXPECT_DOUBLE_EQ(d[1], 0.5);
  EXPECT_DOUBLE_EQ(d[2], 2.95);
  const double gamma = 0.5 * 2 + 0.5 * 1 + 2.95 * 1;  // mass for the uniform floor
  EXPECT_NEAR(lm.probability({}, 0), (3 - 2.95 + gamma / 4) / 7, 1e-15);
  EXPECT_NEAR(lm.probability({}, 1), (2 - 0.5 + gamma / 4) / 7, 1e-15);
  EXPECT_NEAR(lm.probability({}, lm.end_symbol()), (1 - 0.5 + gamma / 4) / 7, 1e-15);
}

TEST(Ngram, UnseenSymbolsGetTheUniformFloor) {
  melodl::eval::NgramModel lm(5, {3, melodl::eval::Smoothing::kneser_ney});
  lm.train({{0, 1, 2, 0, 1, 2}, {0, 1, 2}});
  const double p = lm.probability({0, 1}, 4);
  EXPECT_GT(p, 0.0);
  EXPECT_LT(p, lm.probability({0, 1}, 2) / 5);
  // An unseen symbol is as likely as another unseen one in any context.
  EXPECT_DOUBLE_EQ(lm.probability({0, 1}, 3), p);
  EXPECT_DOUBLE_EQ(lm.probability({4, 4}, 3), lm.probability({4, 4}, 4));
  EXPECT_TRUE(std::isfinite(lm.sequence_bits({3, 4, 3})));
}

TEST(Ngram, DeterministicSequenceCostsAlmostNothing) {
  // Every symbol, and the end, follows from the previous one: ~0 bits with n >= 2.
  const std::vector<int> line = {0, 1, 2, 3, 4, 5, 6, 7};
  const std::vector<std::vector<int>> train(1000, line), valid(3, line);
  for (int order = 2; order <= 6; ++order) {
    melodl::eval::NgramModel lm(8, {order, melodl::eval::Smoothing::kneser_ney});
    lm.train(train);
    EXPECT_LT(melodl::eval::evaluate(lm, valid).bits_per_symbol(), 0.01) << "order " << order;
  }
  // A long cycle: only the end position is uncertain (~6 bits once per 201 symbols).
  std::vector<int> cycle;
  for (int i = 0; i < 200; ++i) cycle.push_back(i % 5);
  const std::vector<std::vector<int>> train2(30, cycle), valid2(2, cycle);
  for (int order = 2; order <= 6; ++order) {
    melodl::eval::NgramModel lm(5, {order, melodl::eval::Smoothing::kneser_ney});
    lm.train(train2);
    EXPECT_LT(melodl::eval::evaluate(lm, valid2).bits_per_symbol(), 0.05) << "order " << order;
  }
  // A unigram model cannot see the cycle: about log2(5) bits.
  melodl::eval::NgramModel uni(5, {1, melodl::eval::Smoothing::kneser_ney});
  uni.train(train2);
  EXPECT_NEAR(melodl::eval::evaluate(uni, valid2).bits_per_symbol(), std::log2(5.0), 0.1);
}

TEST(Ngram, KneserNeyBeatsAddOneAndHigherOrdersHelp) {
  std::mt19937 rng(12);
  const int vocab = 20;
  const auto train = markov_sequences(rng, 40, vocab, 60);
  const auto valid = markov_sequences(rng, 20, vocab, 60);
  auto bits = [&](int order, melodl::eval::Smoothing sm) {
    melodl::eval::NgramModel lm(vocab, {order, sm});
    lm.train(train);
    return melodl::eval::evaluate(lm, valid).bits_per_symbol();
  };
  const double kn1 = bits(1, melodl::eval::Smoothing::kneser_ney),
               kn3 = bits(3, melodl::eval::Smoothing::kneser_ney);
  const double add3 = bits(3, melodl::eval::Smoothing::add_one);
  EXPECT_LT(kn3, add3);
  EXPECT_LT(kn3, kn1);
  EXPECT_LT(kn1, std::log2(vocab + 1.0));  // better than uniform
}

TEST(Ngram, BitsPerSymbolAndPerNote) {
  std::mt19937 rng(13);
  const auto train = random_sequences(rng, 30, 6);
  melodl::eval::NgramModel lm(6, {3, melodl::eval::Smoothing::kneser_ney});
  lm.train(train);
  const std::vector<std::vector<int>> valid = {{0, 1, 2, 3}, {5, 5}, {}};
  // sequence_bits is the sum of -log2 P over the symbols and the end.
  double manual = 0.0;
  for (const auto& s : valid) {
    std::vector<int> h;
    for (int v : s) {
      manual -= std::log2(lm.probability(h, v));
      h.push_back(v);
    }
    manual -= std::log2(lm.probability(h, lm.end_symbol()));
  }
  const auto ev = melodl::eval::evaluate(lm, valid, {2, 1, 0});
  EXPECT_NEAR(ev.bits, manual, 1e-9);
  EXPECT_EQ(ev.symbols, 4u + 2u + 0u + 3u);  // one end per sequence
  EXPECT_EQ(ev.sequences, 3u);
  EXPECT_EQ(ev.notes, 3u);
  EXPECT_DOUBLE_EQ(ev.bits_per_symbol(), manual / 9);
  EXPECT_DOUBLE_EQ(ev.bits_per_note(), manual / 3);
  EXPECT_DOUBLE_EQ(ev.perplexity(), std::exp2(manual / 9));
  EXPECT_THROW(melodl::eval::evaluate(lm, valid, {1, 2}), melodl::InvalidArgument);
}

TEST(Ngram, RejectsBadArguments) {
  EXPECT_THROW(melodl::eval::NgramModel(5, {0, melodl::eval::Smoothing::kneser_ney}),
               melodl::InvalidArgument);
  EXPECT_THROW(melodl::eval::NgramModel(5, {7, melodl::eval::Smoothing::kneser_ney}),
               melodl::InvalidArgument);
  EXPECT_THROW(melodl::eval::NgramModel(0, {}), melodl::InvalidArgument);
  EXPECT_THROW(melodl::eval::NgramModel(1001, {}), melodl::InvalidArgument);
  melodl::eval::NgramModel lm(4, {});
  EXPECT_THROW(lm.train({{0, 4}}), melodl::InvalidArgument);
  melodl::eval::NgramModel lm2(4, {});
  lm2.train({{0, 1}});
  EXPECT_THROW(lm2.train({{0, 1}}), melodl::InvalidArgument);
  EXPECT_THROW(lm2.probability({}, 5), melodl::InvalidArgument);
  EXPECT_THROW(lm2.probability({9}, 0), melodl::InvalidArgument);
  EXPECT_THROW(lm2.sequence_bits({4}), melodl::InvalidArgument);
}

namespace {
// A stand-in codec: the alphabet lists 'b' twice, like melodl4j-v1's 'z'.
class FakeCodec : public melodl::encode::Codec {
 public:
  std::string_view name() const override { return "fake"; }
  std::string encode(const melodl::encode::SymbolMelody&) const override { return ""; }
  melodl::encode::DecodeResult decode(std::string_view) const override { return {}; }
  std::vector<char> alphabet() const override { return {'a', 'b', 'c', 'b', 'd'}; }
};
}  // namespace

TEST(SymbolVocabulary, DenseIdsInAlphabetOrder) {
  const FakeCodec codec;
  const melodl::eval::SymbolVocabulary v(codec);
  EXPECT_EQ(v.size(), 4);
  EXPECT_EQ(v.ids("abcdb"), (std::vector<int>{0, 1, 2, 3, 1}));
  EXPECT_EQ(v.symbol(3), 'd');
  EXPECT_EQ(v.id('z'), -1);
  EXPECT_THROW(v.ids("abz"), melodl::InvalidArgument);
}
