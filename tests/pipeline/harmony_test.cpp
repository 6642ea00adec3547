// tests/pipeline/harmony_test.cpp: two-part harmonies through the training pipeline
// (issue 7): the harmony vocabulary and corpus, constrained composing and accompanying from
// untrained networks, the harmony novelty index, a harmony training run with resume, and
// the `melodl extract --harmonies / train --harmonies / compose [--accompany] / eval /
// match` commands end to end on hand-built MIDI files, with their errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "base/error.h"
#include "encode/harmony.h"
#include "eval/harmony_match.h"
#include "lstm/checkpoint.h"
#include "midi/reader.h"
#include "midi/writer.h"
#include "pipeline/composing.h"
#include "pipeline/training.h"
#include "tests/pipeline/train_test_util.h"

namespace pl = melodl::pipeline;
namespace enc = melodl::encode;
namespace fs = std::filesystem;
using melodl::train_test::run_command;
using melodl::train_test::temp_dir;

namespace {

// A harmony with a learnable pattern: a lower voice of long notes on a few roots, an upper
// voice walking a scale in notes of 2-3 steps, occasional rests.
enc::SymbolHarmony make_harmony(std::mt19937& rng, std::size_t steps) {
  enc::SymbolHarmony h;
  static constexpr int kScale[] = {0, 2, 4, 5, 7, 9, 11, 12};
  int root = 48 + static_cast<int>(rng() % 5), degree = 0, left_low = 0, left_up = 0;
  int up_pitch = 60;
  for (std::size_t k = 0; k < steps; ++k) {
    if (left_low == 0) {
      left_low = 8;
      root = 45 + static_cast<int>(rng() % 8);
      h.lower.push_back({root, true});
    } else {
      h.lower.push_back({root, false});
    }
    --left_low;
    if (left_up == 0) {
      left_up = 2 + static_cast<int>(rng() % 2);
      degree = (degree + 1 + static_cast<int>(rng() % 2)) % 8;
      up_pitch = 60 + kScale[degree];
      if (rng() % 9 == 0)
        h.upper.push_back({});
      else
        h.upper.push_back({up_pitch, true});
    } else {
      h.upper.push_back(h.upper.back().rest() ? enc::HarmonySample{}
                                              : enc::HarmonySample{up_pitch, false});
    }
    --left_up;
  }
  return enc::normalize(h);
}

std::vector<pl::CorpusEntry> harmony_entries(int sources, int per_source, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::vector<pl::CorpusEntry> out;
  for (int s = 0; s < sources; ++s)
    for (int k = 0; k < per_source; ++k) {
      const auto h = make_harmony(rng, 40 + rng() % 40);
      out.push_back({"h-" + std::to_string(s) + ".mid", enc::native_harmony_codec().encode(h), -1,
                     -1, pl::LineKind::harmony});
    }
  return out;
}

std::size_t onsets(const enc::SymbolHarmony& h) {
  std::size_t n = 0;
  for (const auto* v : {&h.lower, &h.upper})
    n += static_cast<std::size_t>(
        std::count_if(v->begin(), v->end(), [](auto s) { return s.onset; }));
  return n;
}

melodl::lstm::Network untrained(int vocab, std::uint64_t seed = 7) {
  melodl::lstm::NetworkConfig c;
  c.vocab = vocab;
  c.layers = 2;
  c.hidden = 24;
  c.seed = seed;
  melodl::lstm::ExecutionOptions one_thread;
  one_thread.threads = 1;
  return melodl::lstm::Network(c, one_thread);
}

// A two-track MIDI file: a lower voice (program 0) of `n` half notes and an upper voice
// (program 24) of 2n quarter notes, at 120 bpm, 480 PPQ.
void write_duet(const fs::path& path, int n, int transpose = 0) {
  melodl::midi::Song song;
  song.division.ppq = 480;
  song.format = 1;
  for (int t = 0; t < 2; ++t) {
    melodl::midi::Track tr;
    melodl::midi::ProgramChange pc;
    pc.channel = static_cast<std::uint8_t>(t);
    pc.program = t == 0 ? 0 : 24;
    tr.programs.push_back(pc);
    const int len = t == 0 ? 960 : 480;
    const int count = t == 0 ? n : 2 * n;
    for (int i = 0; i < count; ++i) {
      melodl::midi::Note note;
      note.channel = static_cast<std::uint8_t>(t);
      note.pitch =
          static_cast<std::uint8_t>((t == 0 ? 48 + (i * 5) % 12 : 64 + (i * 7) % 12) + transpose);
      note.velocity = 80;
      note.start_tick = static_cast<std::int64_t>(i) * len;
      note.end_tick = note.start_tick + len;
      note.start_s = static_cast<double>(note.start_tick) / 960.0;
      note.end_s = static_cast<double>(note.end_tick) / 960.0;
      tr.notes.push_back(note);
    }
    tr.end_tick = tr.notes.back().end_tick;
    song.end_tick = std::max(song.end_tick, tr.end_tick);
    song.tracks.push_back(std::move(tr));
  }
  song.duration_s = static_cast<double>(song.end_tick) / 960.0;
  melodl::midi::write_file(path, song);
}

const std::string kExe = MELODL_EXE;

}  // namespace

TEST(HarmonyPipeline, VocabularyKnowsItsKindAndIsStoredWithAPrefix) {
  const auto corpus = pl::Corpus::from_entries(harmony_entries(2, 3));
  ASSERT_EQ(corpus.kind(), pl::LineKind::harmony);
  const auto v = pl::Vocabulary::from_melodies(corpus.melodies());
  EXPECT_EQ(v.kind(), pl::LineKind::harmony);
  EXPECT_EQ(v.chars().substr(v.chars().size() - 2), "<>");
  EXPECT_EQ(v.stored(), "harmony:" + v.chars());
  const auto back = pl::Vocabulary::parse(v.stored());
  EXPECT_EQ(back.kind(), pl::LineKind::harmony);
  EXPECT_EQ(back.chars(), v.chars());
  // Every id maps to its native harmony symbol.
  for (int id = 0; id < v.size(); ++id)
    EXPECT_EQ(enc::native_harmony::symbol_char(v.grammar_index(id)), v.symbol(id));
  // Melody vocabularies are stored as before.
  const auto m = pl::Vocabulary::full();
  EXPECT_EQ(m.stored(), m.chars());
  EXPECT_EQ(pl::Vocabulary::parse(m.stored()).kind(), pl::LineKind::melody);
  EXPECT_EQ(pl::Vocabulary::full(pl::LineKind::harmony).size(), 53);
  // '-' is not a melody symbol; '_' is not a harmony symbol.
  EXPECT_THROW(pl::Vocabulary("A-<>", pl::LineKind::melody), melodl::InvalidArgument);
  EXPECT_THROW(pl::Vocabulary("A_<>", pl::LineKind::harmony), melodl::InvalidArgument);
  EXPECT_NO_THROW(pl::Vocabulary("A-.<>", pl::LineKind::harmony));
}

TEST(HarmonyPipeline, CorpusIsCanonicalCountsOnsetsAndRefusesMixedKinds) {
  auto entries = harmony_entries(1, 2);
  // A line without markers and with a hold after a rest (read as a rest: repaired).
  entries.push_back({"x.mid", "A-.-B-", -1, -1, pl::LineKind::harmony});
  const auto c = pl::Corpus::from_entries(entries);
  ASSERT_EQ(c.melodies().size(), 3u);
  EXPECT_EQ(c.stats().repaired, 1u);
  const auto& last = c.melodies().back();
  // Upper "-" with nothing sounding before it reads as a rest.
  EXPECT_EQ(last.text, "<A...B.>");
  EXPECT_EQ(last.harmony.steps(), 3u);
  EXPECT_EQ(last.notes, 2u);  // onsets A (lower), B (lower)
  for (const auto& m : c.melodies()) {
    EXPECT_EQ(m.notes, onsets(m.harmony));
    EXPECT_EQ(enc::native_harmony_codec().encode(m.harmony), m.text);
  }
  auto mixed = entries;
  mixed.push_back({"m.mid", "<8M8>", 0, 60, pl::LineKind::melody});
  EXPECT_THROW(pl::Corpus::from_entries(mixed), melodl::InvalidArgument);
}

TEST(HarmonyPipeline, ConstrainedHarmoniesFromAnUntrainedNetworkAllDecode) {
  const auto vocab = pl::Vocabulary::full(pl::LineKind::harmony);
  const auto net = untrained(vocab.size());
  pl::ComposeOptions o;
  o.count = 48;
  o.length = 120;
  o.seed = 11;
  pl::ComposeStats st;
  const auto pieces = pl::compose(net, vocab, o, &st);
  ASSERT_EQ(pieces.size(), 48u);
  EXPECT_EQ(st.skipped, 0u);
  for (const auto& p : pieces) {
    EXPECT_TRUE(p.finished) << p.text;  // the length budget forces '>' in time
    EXPECT_LE(p.text.size(), 121u);
    EXPECT_EQ(p.text.size() % 2, 0u) << p.text;  // '<' pairs '>'
    EXPECT_EQ(p.harmony.skipped + p.harmony.substituted, 0u) << p.text;
    EXPECT_EQ(enc::native_harmony_codec().encode(p.harmony.harmony), p.text);
  }
  EXPECT_EQ(st.clean + st.empty, 48u);
  // Without the mask an untrained network writes holds after rests and stray markers.
  o.constrained = false;
  pl::compose(net, vocab, o, &st);
  EXPECT_GT(st.skipped, 0u);
}

TEST(HarmonyPipeline, AccompanyKeepsTheGivenUpperVoice) {
  std::mt19937 rng(5);
  const auto given = make_harmony(rng, 50);
  const auto vocab = pl::Vocabulary::full(pl::LineKind::harmony);
  const auto net = untrained(vocab.size(), 9);
  pl::ComposeOptions o;
  o.count = 6;
  o.accompany = given.upper;
  o.length = static_cast<int>(2 * given.steps() + 1);
  pl::ComposeStats st;
  const auto pieces = pl::compose(net, vocab, o, &st);
  EXPECT_EQ(st.skipped, 0u);
  std::set<std::string> distinct;
  for (const auto& p : pieces) {
    ASSERT_TRUE(p.finished) << p.text;
    EXPECT_EQ(p.harmony.harmony.steps(), given.steps());
    EXPECT_EQ(p.harmony.harmony.upper, given.upper);
    distinct.insert(p.text);
  }
  EXPECT_GT(distinct.size(), 1u);  // the lower voices are drawn, not fixed
  // Too short a length, a prime, unconstrained mode and a melody model are refused.
  o.length = static_cast<int>(2 * given.steps());
  EXPECT_THROW(pl::compose(net, vocab, o), melodl::InvalidArgument);
  o.length = static_cast<int>(2 * given.steps() + 1);
  o.prime = "<A";
  EXPECT_THROW(pl::compose(net, vocab, o), melodl::InvalidArgument);
  o.prime.clear();
  o.constrained = false;
  EXPECT_THROW(pl::compose(net, vocab, o), melodl::InvalidArgument);
  o.constrained = true;
  const auto mvocab = pl::Vocabulary::full();
  EXPECT_THROW(pl::compose(untrained(mvocab.size()), mvocab, o), melodl::InvalidArgument);
}

TEST(HarmonyPipeline, HarmonyPrimeIsAGrammaticalPrefix) {
  std::mt19937 rng(3);
  const auto h = make_harmony(rng, 30);
  const std::string prime = pl::prime_from_harmony(h, 10);
  EXPECT_EQ(prime.size(), 21u);
  EXPECT_EQ(prime, enc::native_harmony_codec().encode(h).substr(0, 21));
  const auto vocab = pl::Vocabulary::full(pl::LineKind::harmony);
  pl::ComposeOptions o;
  o.count = 3;
  o.length = 60;
  o.prime = prime;
  for (const auto& p : pl::compose(untrained(vocab.size()), vocab, o))
    EXPECT_EQ(p.text.substr(0, prime.size()), prime);
  o.prime = "<-A";  // a hold with nothing to hold
  EXPECT_THROW(pl::compose(untrained(vocab.size()), vocab, o), melodl::InvalidArgument);
}

TEST(HarmonyPipeline, NoveltyFindsCopiesOfBothVoicesInSteps) {
  std::mt19937 rng(8);
  std::vector<enc::SymbolHarmony> corpus;
  for (int i = 0; i < 5; ++i) corpus.push_back(make_harmony(rng, 60));
  const melodl::eval::HarmonyCorpusIndex index(corpus);
  EXPECT_EQ(index.size(), 5u);
  EXPECT_EQ(index.joint().total_tokens(), 300u);
  // A corpus harmony is a copy of itself, whole.
  const auto self = index.novelty(corpus[2]);
  EXPECT_EQ(self.steps, 60u);
  EXPECT_EQ(self.joint.longest_copy.length, 60u);
  EXPECT_EQ(self.joint.longest_copy.corpus_index, 2u);
  EXPECT_GE(self.upper.longest_copy.length, self.upper_notes - 1);
  EXPECT_EQ(self.onset_copy, onsets(corpus[2]));
  EXPECT_EQ(self.onset_copy_steps, 60u);
  // 40 steps of one held chord, in the corpus too: a long copy with 2 onsets.
  enc::SymbolHarmony held;
  for (int k = 0; k < 40; ++k) {
    held.lower.push_back({40, k == 0});
    held.upper.push_back({70, k == 0});
  }
  const auto hn = melodl::eval::HarmonyCorpusIndex({held}).novelty(held);
  EXPECT_EQ(hn.joint.longest_copy.length, 40u);
  EXPECT_EQ(hn.onset_copy, 2u);
  // Steps 10..39 of corpus[3] with the upper voice changed at step 20 (a pitch the corpus
  // never uses): the longest joint copy is the 20 steps before the change, less the first
  // step when it holds a note in the corpus (here it starts the note: normalized).
  const auto& src = corpus[3];
  enc::SymbolHarmony part;
  part.lower.assign(src.lower.begin() + 10, src.lower.begin() + 40);
  part.upper.assign(src.upper.begin() + 10, src.upper.begin() + 40);
  part.upper[20] = {83, true};
  if (!part.upper[21].rest()) part.upper[21].onset = true;
  part = enc::normalize(part);
  const bool first_differs = (!src.lower[10].rest() && !src.lower[10].onset) ||
                             (!src.upper[10].rest() && !src.upper[10].onset);
  const auto n = index.novelty(part);
  EXPECT_EQ(n.joint.longest_copy.length, first_differs ? 19u : 20u);
  EXPECT_EQ(n.joint.longest_copy.corpus_index, 3u);
  // Step tokens never look like the first-note token of match.h.
  for (auto t : melodl::eval::harmony_step_tokens(corpus[0]))
    EXPECT_NE(melodl::eval::token_interval(t), melodl::eval::kNoInterval);
}

TEST(HarmonyPipeline, TrainingRunStoresTheHarmonyVocabularyAndResumes) {
  const auto corpus = pl::Corpus::from_entries(harmony_entries(5, 3));
  const auto split = corpus.split_by_source(0.2, 1);
  const auto vocab = pl::Vocabulary::from_melodies(corpus.melodies());
  pl::TrainSettings s;
  s.network.layers = 1;
  s.network.hidden = 16;
  s.execution.threads = 1;
  s.train.optimizer.lr = 0.01f;
  s.train.tbptt_fwd = s.train.tbptt_bwd = 30;
  s.batch = 4;
  s.window = 100;
  s.epochs = 2;
  s.checkpoint_every_s = 0;
  s.samples_per_epoch = 2;
  s.sample_length = 80;
  const auto dir = temp_dir("harmony-run");
  std::atomic<bool> stop{false};
  std::vector<pl::Composition> seen;
  pl::TrainCallbacks cb;
  cb.epoch_end = [&](const pl::EpochMetrics& m, const std::vector<pl::Composition>& samples) {
    EXPECT_GT(m.valid_bits_per_symbol, 0.0);
    seen.insert(seen.end(), samples.begin(), samples.end());
  };
  std::size_t batches = 0;
  cb.progress = [&](const pl::ProgressInfo&) {
    if (++batches == 2) stop = true;
  };
  {
    pl::TrainingRun run(dir, s, split, vocab);
    ASSERT_EQ(run.run(stop, cb), pl::RunEnd::interrupted);
    const auto ck = melodl::lstm::load_checkpoint(run.latest_checkpoint());
    EXPECT_EQ(ck.vocabulary, vocab.stored());
  }
  auto resumed = pl::TrainingRun::resume(dir, s, split);
  EXPECT_EQ(resumed.vocabulary().kind(), pl::LineKind::harmony);
  stop = false;
  cb.progress = {};
  ASSERT_EQ(resumed.run(stop, cb), pl::RunEnd::finished);
  ASSERT_EQ(seen.size(), 4u);  // 2 epochs x 2 samples, all decodable harmonies
  for (const auto& c : seen) EXPECT_EQ(c.harmony.skipped + c.harmony.substituted, 0u) << c.text;
  // Resuming with melodies instead is refused.
  const auto melodies = pl::Corpus::from_entries(melodl::train_test::make_entries(3, 3));
  EXPECT_THROW(pl::TrainingRun::resume(dir, s, melodies.split_by_source(0.2, 1)),
               melodl::InvalidArgument);
}

TEST(HarmonyCommand, ExtractTrainComposeAccompanyEvalMatch) {
  const auto dir = temp_dir("harmony-cli");
  const fs::path midi = dir / "midi";
  fs::create_directories(midi);
  for (int i = 0; i < 4; ++i) write_duet(midi / ("duet-" + std::to_string(i) + ".mid"), 24, i);
  // extract --harmonies: one pair per file (two voices), counts in the JSON report.
  const fs::path harm = dir / "harmonies.txt";
  auto r = run_command(kExe + " extract --harmonies --harmony-min-notes 20 " + midi.string() +
                       " -o " + harm.string() + " --report " + (dir / "report.json").string());
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream rep(dir / "report.json");
  const auto report = nlohmann::json::parse(rep);
  EXPECT_EQ(report["totals"]["files"], 4);
  EXPECT_EQ(report["totals"]["voices"], 8);
  EXPECT_EQ(report["totals"]["kept"], 4) << report["totals"].dump();
  // A melody run refuses a harmonies file and says which flag reads it.
  r = run_command(kExe + " train " + harm.string() + " --epochs 1 -q --run-dir " +
                  (dir / "bad").string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--harmonies"), std::string::npos) << r.output;
  // train --harmonies (tiny network; the preset fills the rest).
  const fs::path run = dir / "run";
  r = run_command(kExe + " train --harmonies " + harm.string() +
                  " --layers 1 --hidden 16 --window 200 --tbptt 50 --batch 2 --epochs 2 "
                  "--threads 1 --samples-per-epoch 1 --sample-length 100 -q --run-dir " +
                  run.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(run / "samples" / "epoch-002" / "sample-01.mid"));
  {
    std::ifstream in(run / "manifest.json");
    const auto m = nlohmann::json::parse(in);
    EXPECT_EQ(m["config"]["kind"], "harmony");
    EXPECT_EQ(m["config"]["network"]["layers"], 1);
    EXPECT_EQ(m["config"]["train"]["tbptt_fwd"], 50);
    EXPECT_TRUE(m["novelty"].contains("longest_exact_copy_steps")) << m["novelty"].dump();
  }
  // The sample is a two-track MIDI file (plus the writer's conductor track), one program
  // per voice: piano below, nylon guitar above (the original's).
  const auto voice_tracks = [](const melodl::midi::Song& s) {
    std::vector<const melodl::midi::Track*> out;
    for (const auto& t : s.tracks)
      if (!t.notes.empty()) out.push_back(&t);
    return out;
  };
  auto song = melodl::midi::read_file(run / "samples" / "epoch-002" / "sample-01.mid");
  ASSERT_TRUE(song) << song.error().what();
  ASSERT_EQ(song->tracks.size(), 3u);
  ASSERT_EQ(song->tracks[1].programs.size(), 1u);
  EXPECT_EQ(song->tracks[1].programs[0].program, 0);
  ASSERT_EQ(song->tracks[2].programs.size(), 1u);
  EXPECT_EQ(song->tracks[2].programs[0].program, 24);
  // compose: two-part harmonies.
  r = run_command(kExe + " compose " + run.string() + " --count 3 --length 120 -o " +
                  (dir / "out").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("decoded cleanly: 3/3"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out" / "harmony-03.mid"));
  // compose --accompany: the upper voice of the file is kept, a lower voice is composed.
  r = run_command(kExe + " compose " + run.string() + " --count 2 --accompany " +
                  (midi / "duet-0.mid").string() + " -o " + (dir / "duet").string());
  ASSERT_EQ(r.code, 0) << r.output;
  song = melodl::midi::read_file(dir / "duet" / "duet-01.mid");
  ASSERT_TRUE(song) << song.error().what();
  const auto tracks = voice_tracks(*song);
  ASSERT_EQ(tracks.size(), 2u);
  std::vector<int> given, got;
  for (const auto& n : tracks[1]->notes) got.push_back(n.pitch);
  for (int i = 0; i < 48; ++i) given.push_back(64 + (i * 7) % 12);
  EXPECT_EQ(got, given);
  // eval: model and n-gram baselines on harmony lines.
  r = run_command(kExe + " eval " + run.string() + " --data " + harm.string() +
                  " --samples 2 --length 80 --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ev = nlohmann::json::parse(r.output);
  EXPECT_EQ(ev["kind"], "harmony");
  EXPECT_EQ(ev["ngram"].size(), 6u);
  EXPECT_GT(ev["model"]["bits_per_symbol"].get<double>(), 0.0);
  // match: a corpus harmony against the corpus is a whole copy.
  r = run_command(kExe + " match " + harm.string() + " --corpus " + harm.string() + " --json " +
                  (dir / "m.json").string() + " -q");
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream mj(dir / "m.json");
  const auto mr = nlohmann::json::parse(mj);
  ASSERT_EQ(mr["results"].size(), 4u);
  for (const auto& res : mr["results"])
    EXPECT_EQ(res["joint"]["longest_copy"], res["steps"]) << res.dump();
  // render: a harmonies file gives one two-track file per harmony.
  r = run_command(kExe + " render " + harm.string() + " -q -o " + (dir / "rendered").string());
  ASSERT_EQ(r.code, 0) << r.output;
  for (int i = 1; i <= 4; ++i) {
    const auto s =
        melodl::midi::read_file(dir / "rendered" / ("harmony-000" + std::to_string(i) + ".mid"));
    ASSERT_TRUE(s) << s.error().what();
    EXPECT_EQ(voice_tracks(*s).size(), 2u);
  }
  // Mixing kinds in match, and --accompany with a melody model, are refused clearly.
  std::ofstream(dir / "mel.txt") << "// melodl melodies format=native version=1\n<8M8N8O8>\n";
  r = run_command(kExe + " match " + (dir / "mel.txt").string() + " --corpus " + harm.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("one kind"), std::string::npos) << r.output;
}
