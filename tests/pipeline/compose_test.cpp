// tests/pipeline/compose_test.cpp: grammar-constrained sampling (pipeline/composing.h)
// from UNTRAINED networks: random weights produce garbage, so only the mask can make every
// melody decode. Also network scoring against a hand computation.
#include <gtest/gtest.h>

#include <cmath>

#include "base/error.h"
#include "encode/codec.h"
#include "lstm/network.h"
#include "pipeline/composing.h"

namespace pl = melodl::pipeline;

namespace {

melodl::lstm::Network untrained(int vocab, std::uint64_t seed) {
  melodl::lstm::NetworkConfig cfg;
  cfg.vocab = vocab;
  cfg.layers = 1;
  cfg.hidden = 16;
  cfg.seed = seed;
  melodl::lstm::ExecutionOptions one_thread;
  one_thread.threads = 1;
  melodl::lstm::Network net(cfg, one_thread);
  // Scale the weights up so the random network is confidently wrong.
  for (float& w : net.params()) w *= 4.0f;
  return net;
}

}  // namespace

TEST(TrainCompose, ConstrainedSamplesFromAnUntrainedNetworkAllDecode) {
  const auto vocab = pl::Vocabulary::full();
  std::size_t clean = 0, total = 0, masked = 0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const auto net = untrained(vocab.size(), seed);
    pl::ComposeOptions o;
    o.count = 64;
    o.length = 60 + 20 * static_cast<int>(seed);
    o.seed = seed;
    o.temperature = 1.5f;
    pl::ComposeStats st;
    const auto pieces = pl::compose(net, vocab, o, &st);
    ASSERT_EQ(pieces.size(), 64u);
    for (const auto& p : pieces) {
      EXPECT_TRUE(p.finished) << p.text;
      EXPECT_LE(p.text.size(), static_cast<std::size_t>(o.length) + 1);
      EXPECT_EQ(p.decoded.skipped, 0u) << p.text;
      EXPECT_FALSE(p.decoded.melody.steps.empty()) << p.text;
      EXPECT_EQ(melodl::encode::native_codec().encode(p.decoded.melody), p.text);
    }
    clean += st.clean;
    total += st.melodies;
    masked += st.masked;
    EXPECT_EQ(st.skipped, 0u);
  }
  EXPECT_EQ(clean, total);
  EXPECT_GT(masked, 0u);  // the network's favourite symbol was often ungrammatical
}

TEST(TrainCompose, UnconstrainedSamplesOfAnUntrainedNetworkDoNot) {
  const auto vocab = pl::Vocabulary::full();
  const auto net = untrained(vocab.size(), 3);
  pl::ComposeOptions o;
  o.count = 32;
  o.length = 100;
  o.constrained = false;
  pl::ComposeStats st;
  pl::compose(net, vocab, o, &st);
  EXPECT_GT(st.skipped, 0u);
  EXPECT_LT(st.clean, st.melodies);
}

TEST(TrainCompose, RestrictedVocabularyAndPrime) {
  // A data vocabulary without some symbols: the mask still finds a way to finish.
  const pl::Vocabulary vocab("LMN48_<>");
  const auto net = untrained(vocab.size(), 5);
  pl::ComposeOptions o;
  o.count = 40;
  o.length = 30;
  o.prime = "<8M4";
  pl::ComposeStats st;
  const auto pieces = pl::compose(net, vocab, o, &st);
  EXPECT_EQ(st.clean, 40u);
  for (const auto& p : pieces) {
    EXPECT_EQ(p.text.rfind("<8M4", 0), 0u) << p.text;
    EXPECT_LE(p.text.size(), 4u + 30u);
  }
  o.prime = "8M";  // '<' is added; ends after an interval: fine
  EXPECT_EQ(pl::compose(net, vocab, o).size(), 40u);
  o.prime = "<8MM";  // ungrammatical
  EXPECT_THROW(pl::compose(net, vocab, o), melodl::InvalidArgument);
  o.prime = "<8Y8";  // not in the vocabulary
  EXPECT_THROW(pl::compose(net, vocab, o), melodl::InvalidArgument);
  o.prime = "<8>";  // already complete
  EXPECT_THROW(pl::compose(net, vocab, o), melodl::InvalidArgument);
}

TEST(TrainCompose, PrimeFromMelody) {
  const auto d = melodl::encode::native_codec().decode("<8N8_4O8P8Q8>");
  EXPECT_EQ(pl::prime_from_melody(d.melody, 2), "<8N8");
  EXPECT_EQ(pl::prime_from_melody(d.melody, 3), "<8N8_4O8");
  EXPECT_EQ(pl::prime_from_melody(d.melody, 99), "<8N8_4O8P8Q8");
}

TEST(TrainCompose, ScoreMatchesStepByStepSoftmax) {
  const auto vocab = pl::Vocabulary::full();
  const auto net = untrained(vocab.size(), 9);
  const auto corpus =
      pl::Corpus::from_entries({{"a", "<8M8N8>", 0, 60}, {"b", "<4_4O4P4Q4R4>", 0, 60}});
  const auto score = pl::score_network(net, vocab, corpus.melodies(), 1);
  double bits = 0;
  std::size_t n = 0;
  for (const auto& m : corpus.melodies()) {
    const auto ids = vocab.ids(m.text);
    auto state = net.zero_state(1);
    std::vector<float> logits(static_cast<std::size_t>(vocab.size()));
    for (std::size_t t = 0; t + 1 < ids.size(); ++t) {
      net.step({&ids[t], 1}, state, logits);
      double z = 0;
      for (float l : logits) z += std::exp(static_cast<double>(l));
      bits += -(static_cast<double>(logits[static_cast<std::size_t>(ids[t + 1])]) - std::log(z)) /
              std::log(2.0);
      ++n;
    }
  }
  EXPECT_EQ(score.symbols, n);
  EXPECT_EQ(score.notes, 3u + 5u);
  EXPECT_NEAR(score.bits, bits, 1e-3 * bits);
  // Batched the same.
  EXPECT_NEAR(pl::score_network(net, vocab, corpus.melodies(), 32).bits, score.bits, 1e-4 * bits);
}
