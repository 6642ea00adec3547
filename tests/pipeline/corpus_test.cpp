// tests/pipeline/corpus_test.cpp: vocabulary from the data, split by source file, training
// windows packed from whole melodies (pipeline/corpus.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "base/error.h"
#include "encode/grammar.h"
#include "encode/melody_file.h"
#include "pipeline/corpus.h"
#include "pipeline/corpus_inputs.h"
#include "tests/pipeline/train_test_util.h"

namespace pl = melodl::pipeline;

TEST(TrainCorpus, CanonicalMelodiesAndCounts) {
  std::vector<pl::CorpusEntry> e = {{"a.mid", "8M8N8", 0, 60},     // no markers: added
                                    {"a.mid", "<8M8N8>", 0, 60},   // same melody
                                    {"b.mid", "<8M8!N8>", 0, 60},  // '!' skipped: repaired
                                    {"b.mid", "<>", 0, 60},        // nothing: dropped
                                    {"", "<4_4O4>", 0, 60}};       // trailing rest dropped
  const auto c = pl::Corpus::from_entries(e);
  ASSERT_EQ(c.melodies().size(), 4u);
  EXPECT_EQ(c.melodies()[0].text, "<8M8N8>");
  EXPECT_EQ(c.melodies()[1].text, "<8M8N8>");
  EXPECT_EQ(c.melodies()[2].text, "<8M8N8>");
  EXPECT_EQ(c.melodies()[3].text, "<4_4O4>");
  EXPECT_EQ(c.melodies()[3].source, "(unknown)");
  EXPECT_EQ(c.melodies()[0].notes, 3u);
  EXPECT_EQ(c.melodies()[3].notes, 2u);
  EXPECT_EQ(c.stats().dropped, 1u);
  EXPECT_EQ(c.stats().repaired, 1u);
  EXPECT_EQ(c.stats().sources, 3u);
}

TEST(TrainCorpus, VocabularyFromDataInAlphabetOrder) {
  const auto c = pl::Corpus::from_entries({{"a", "<8M8N8>", 0, 60}, {"b", "<4_4O4>", 0, 60}});
  const auto v = pl::Vocabulary::from_melodies(c.melodies());
  EXPECT_EQ(v.chars(), "MNO48_<>");
  EXPECT_EQ(v.start_id(), 6);
  EXPECT_EQ(v.end_id(), 7);
  EXPECT_EQ(v.id('O'), 2);
  EXPECT_EQ(v.id('Y'), -1);
  EXPECT_EQ(v.grammar_index(v.id('<')), melodl::encode::native::kStart);
  EXPECT_EQ(v.id_of_grammar_index(melodl::encode::native::kRest), v.id('_'));
  EXPECT_EQ(v.id_of_grammar_index(melodl::encode::native::interval_symbol(5)), -1);
  EXPECT_EQ(v.text(v.ids("<8M8>")), "<8M8>");
  EXPECT_THROW(v.ids("<8Y8>"), melodl::InvalidArgument);
  // A checkpoint's vocabulary string is checked.
  EXPECT_THROW(pl::Vocabulary("NM<>"), melodl::InvalidArgument);  // order
  EXPECT_THROW(pl::Vocabulary("MN"), melodl::InvalidArgument);    // no markers
  EXPECT_THROW(pl::Vocabulary("M!<>"), melodl::InvalidArgument);  // not native
  EXPECT_EQ(pl::Vocabulary::full().size(), 60);
}

TEST(TrainCorpus, SplitBySourceKeepsFilesTogetherAndIsSeeded) {
  const auto c = pl::Corpus::from_entries(melodl::train_test::make_entries(20, 5));
  const auto s = c.split_by_source(0.1, 1);
  ASSERT_EQ(s.valid_sources.size(), 2u);
  EXPECT_EQ(s.valid.size(), 10u);
  EXPECT_EQ(s.train.size(), 90u);
  const std::set<std::string> vs(s.valid_sources.begin(), s.valid_sources.end());
  for (const auto& m : s.train) EXPECT_EQ(vs.count(m.source), 0u) << m.source;
  for (const auto& m : s.valid) EXPECT_EQ(vs.count(m.source), 1u) << m.source;
  // Same seed, same files; another seed, (here) other files.
  EXPECT_EQ(c.split_by_source(0.1, 1).valid_sources, s.valid_sources);
  bool differs = false;
  for (std::uint64_t seed = 2; seed < 6; ++seed)
    differs |= c.split_by_source(0.1, seed).valid_sources != s.valid_sources;
  EXPECT_TRUE(differs);
  EXPECT_TRUE(c.split_by_source(0.0, 1).valid.empty());
  // Never everything: one file at least stays for training.
  const auto two = pl::Corpus::from_entries(melodl::train_test::make_entries(2, 3));
  EXPECT_EQ(two.split_by_source(0.9, 1).valid_sources.size(), 1u);
  EXPECT_THROW(c.split_by_source(1.0, 1), melodl::InvalidArgument);
}

TEST(TrainCorpus, WindowsStartAtMelodyStartsAndCoverEverySymbolOnce) {
  const auto c = pl::Corpus::from_entries(melodl::train_test::make_entries(3, 10));
  const auto v = pl::Vocabulary::from_melodies(c.melodies());
  // Add one very long melody to force continuation windows.
  std::string long_line = "<8";
  for (int i = 0; i < 150; ++i) long_line += (i % 2) ? "N8" : "L4";
  long_line += ">";
  auto mel = c.melodies();
  mel.push_back(pl::Corpus::from_entries({{"long.mid", long_line, 0, 60}}).melodies()[0]);
  const int W = 60;
  const auto windows = pl::make_windows(mel, v, W);
  std::size_t predictions = 0, expected = 0;
  for (const auto& m : mel) expected += m.text.size() - 1;
  std::size_t continuation = 0;
  for (const auto& w : windows) {
    ASSERT_GE(w.symbols.size(), 2u);
    ASSERT_LE(w.symbols.size(), static_cast<std::size_t>(W) + 1);
    if (w.starts_melody) {
      EXPECT_EQ(w.symbols.front(), v.start_id());
    } else {
      ++continuation;
    }
    predictions += w.symbols.size() - 1;
  }
  EXPECT_GT(continuation, 0u);
  // Windows hold whole melodies and continuation windows overlap by one symbol, so every
  // symbol is predicted except the first of each window that starts at a melody.
  std::size_t total = 0;
  for (const auto& m : mel) total += m.text.size();
  EXPECT_EQ(predictions, total - (windows.size() - continuation));
  (void)expected;
  // Reconstruct the stream: concatenating windows (dropping the one-symbol overlap of
  // continuation windows) gives back every melody in order.
  std::string stream;
  for (const auto& w : windows) {
    std::string t = v.text(w.symbols);
    if (!w.starts_melody) t.erase(0, 1);
    stream += t;
  }
  std::string all;
  for (const auto& m : mel) all += m.text;
  EXPECT_EQ(stream, all);
  EXPECT_THROW(pl::make_windows(mel, v, 1), melodl::InvalidArgument);
}

TEST(TrainCorpus, NgramSequencesDropMarkers) {
  const auto c = pl::Corpus::from_entries({{"a", "<8M8N8>", 0, 60}});
  const auto v = pl::Vocabulary::from_melodies(c.melodies());
  const auto seq = pl::ngram_sequences(c.melodies(), v);
  ASSERT_EQ(seq.size(), 1u);
  EXPECT_EQ(seq[0], (std::vector<int>{v.id('8'), v.id('M'), v.id('8'), v.id('N'), v.id('8')}));
  EXPECT_EQ(pl::Corpus::hash(c.melodies()), pl::Corpus::hash(c.melodies()));
  const auto d = pl::Corpus::from_entries({{"a", "<8M8O8>", 0, 60}});
  EXPECT_NE(pl::Corpus::hash(c.melodies()), pl::Corpus::hash(d.melodies()));
}

// A line longer than encode::kMaxLineSymbols is refused when the file is read, naming the
// file and line, before anything is built from it (a 50 MB line needed 1.6 GB to train on).
TEST(TrainCorpus, OverlongLineIsRefusedNamingFileAndLine) {
  namespace pl = melodl::pipeline;
  const auto dir = melodl::train_test::temp_dir("long-line");
  const auto path = (dir / "long.txt").string();
  std::string line = "<8";
  while (line.size() + 3 <= melodl::encode::kMaxLineSymbols) line += "N4";
  {
    std::ofstream f(path);
    f << "// melodl melodies format=native version=1\n<8M4>\n" << line << ">\n";
  }
  EXPECT_EQ(pl::load_corpus_entries({path}, 1, pl::LineKind::melody).size(), 2u);  // at the limit
  {
    std::ofstream f(path);
    f << "// melodl melodies format=native version=1\n<8M4>\n" << line << "N4>\n";
  }
  try {
    pl::load_corpus_entries({path}, 1, pl::LineKind::melody);
    ADD_FAILURE() << "an overlong line was accepted";
  } catch (const melodl::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":3: a line of 1000001 symbols"), std::string::npos)
        << e.what();
  }
}
