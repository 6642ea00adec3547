// tests/eval/bach_baseline_test.cpp: the evaluation tools on the bundled corpus
// data/bach. Melodies are extracted (v1 defaults), split by source file (every 10th
// file is validation), and the test prints and checks: n-gram baselines (bits per
// symbol and per note, both codecs, orders 1..6, Kneser-Ney and add-one), and how much
// validation melodies quote the training melodies (a human baseline for `melodl
// match`). The numbers are recorded in docs/evaluation.md.
// Run: <build>/tests/pipeline/pipeline_bach_test (or ctest -R BachBaseline)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "encode/melody.h"
#include "eval/match.h"
#include "eval/ngram.h"
#include "eval/style.h"
#include "midi/reader.h"

namespace mp = melodl::eval;
namespace enc = melodl::encode;
namespace fs = std::filesystem;

namespace {

struct Split {
  std::vector<enc::SymbolMelody> train, valid;
};

const Split& bach_split() {
  static const Split split = [] {
    Split s;
    std::vector<std::string> files;
    for (const auto& e :
         fs::recursive_directory_iterator(fs::path(MELODL_SOURCE_DIR) / "data" / "bach"))
      if (e.is_regular_file() && e.path().extension() == ".mid") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (std::size_t i = 0; i < files.size(); ++i) {
      auto song = melodl::midi::read_file(files[i]);
      if (!song.ok()) continue;
      for (const auto& m : enc::extract_melodies(*song).melodies)
        (i % 10 == 9 ? s.valid : s.train).push_back(m.symbols);
    }
    return s;
  }();
  return split;
}

std::size_t note_count(const enc::SymbolMelody& m) {
  return static_cast<std::size_t>(
      std::count_if(m.steps.begin(), m.steps.end(), [](const enc::Step& s) { return !s.rest; }));
}

}  // namespace

TEST(BachBaseline, NgramBitsPerSymbolAndPerNote) {
  const Split& s = bach_split();
  ASSERT_GT(s.train.size(), 100u);
  ASSERT_GT(s.valid.size(), 10u);
  std::vector<std::size_t> notes;
  for (const auto& m : s.valid) notes.push_back(note_count(m));
  for (const enc::Codec* codec : {&enc::native_codec(), &enc::melodl4j_v1_codec()}) {
    const melodl::eval::SymbolVocabulary vocab(*codec);
    std::vector<std::vector<int>> train, valid;
    for (const auto& m : s.train) train.push_back(vocab.ids(codec->encode(m)));
    for (const auto& m : s.valid) valid.push_back(vocab.ids(codec->encode(m)));
    std::printf("%s (%d symbols): train %zu melodies, valid %zu melodies, %zu notes\n",
                std::string(codec->name()).c_str(), vocab.size(), train.size(), valid.size(),
                std::accumulate(notes.begin(), notes.end(), std::size_t{0}));
    std::vector<double> kn_note(7);
    for (int order = 1; order <= 6; ++order) {
      for (auto sm : {melodl::eval::Smoothing::kneser_ney, melodl::eval::Smoothing::add_one}) {
        melodl::eval::NgramModel lm(vocab.size(), {order, sm});
        lm.train(train);
        const auto ev = melodl::eval::evaluate(lm, valid, notes);
        std::printf("  order %d %-10s %.3f bits/symbol  %.3f bits/note  perplexity %.2f\n", order,
                    sm == melodl::eval::Smoothing::kneser_ney ? "KN" : "add-one", ev.bits_per_symbol(),
                    ev.bits_per_note(), ev.perplexity());
        if (sm == melodl::eval::Smoothing::kneser_ney)
          kn_note[static_cast<std::size_t>(order)] = ev.bits_per_note();
        if (sm == melodl::eval::Smoothing::add_one && order >= 3) {
          EXPECT_GT(ev.bits_per_note(), kn_note[static_cast<std::size_t>(order)]);
        }
      }
    }
    // Context helps: a trigram beats a unigram clearly.
    EXPECT_LT(kn_note[3], kn_note[1] * 0.9);
  }
}

TEST(BachBaseline, ValidationMelodiesQuoteTheTrainingSet) {
  const Split& s = bach_split();
  const melodl::eval::CorpusIndex index(s.train);
  melodl::eval::MatchOptions opt;
  const auto reports = melodl::eval::match_melodies(index, s.valid, opt);
  double identity = 0, fraction = 0, copy = 0;
  std::array<double, melodl::eval::kMaxNgram - melodl::eval::kMinNgram + 1> overlap{};
  std::size_t longest = 0;
  for (const auto& r : reports) {
    identity += r.candidates[0].alignment.identity;
    fraction += r.candidates[0].score_fraction;
    copy += static_cast<double>(r.novelty.longest_copy.length);
    longest = std::max(longest, r.novelty.longest_copy.length);
    for (std::size_t k = 0; k < overlap.size(); ++k) overlap[k] += r.novelty.overlap[k].fraction();
  }
  const double n = static_cast<double>(reports.size());
  std::printf(
      "validation vs training (%zu vs %zu melodies): mean best identity %.1f%%, mean score "
      "fraction %.3f, mean longest copy %.1f notes (max %zu), n-gram overlap",
      reports.size(), index.size(), identity / n, fraction / n, copy / n, longest);
  for (std::size_t k = 0; k < overlap.size(); ++k)
    std::printf(" n=%d %.1f%%", melodl::eval::kMinNgram + static_cast<int>(k), 100 * overlap[k] / n);
  std::printf("\n");
  const auto st = melodl::eval::compare_style(melodl::eval::style_of(s.train), melodl::eval::style_of(s.valid));
  std::printf("style overlap validation/training: intervals %.3f durations %.3f rests %.3f\n",
              st.intervals, st.durations, st.rests);
  // Real music shares short figures but copies little: overlap falls with n.
  EXPECT_GT(overlap[0], overlap[4]);
  EXPECT_GT(st.intervals, 0.8);
}
