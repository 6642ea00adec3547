// bench/melody_length_bench.cpp: time per symbol of the melody paths as one melody grows
// from 10k to 1M symbols (issue 14 point 3: linear in the length of a melody). Each
// benchmark reports s_per_symbol (Google Benchmark prints it as ns/us per symbol); a
// linear path keeps it constant within noise from 10k to 1M.
//   codec/*       native and melodl4j-v1 decode and encode of one line
//   render        one line to a MIDI file: decode, encode::melody_to_song, midi::write_file
//                 (what `melodl render` does per melody, without WAV)
//   match         eval::match_melodies of one generated melody against a fixed corpus
//                 (32 melodies, 6.4k notes): SIMD scores, the top alignment, novelty
//   CopyNovelty   the corpus holds the long melody, the query is a copy of it: the
//                 exact-copy statistics, the former quadratic case
//   CorpusIndex   building that corpus's index (suffix array O(N log N), LCP, batches)
//   ngram         eval::NgramModel order 6: train on the line's symbols, then evaluate it
//   style         eval::style_of
// Run: build/bench/melody_length_bench --benchmark_counters_tabular=true
// Results: docs/benchmarks.md "Melody length".
#include <benchmark/benchmark.h>

#include <cstddef>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "encode/melody_song.h"
#include "eval/match.h"
#include "eval/ngram.h"
#include "eval/style.h"
#include "midi/writer.h"

namespace {

namespace encode = melodl::encode;
namespace eval = melodl::eval;

// A random melody (intervals -5..5, durations 2/4/8, 5% rests) whose native line holds at
// least `symbols` characters.
encode::SymbolMelody melody_of_length(std::size_t symbols, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> iv(-5, 5), pick(0, 2), coin(0, 19);
  const int durations[] = {2, 4, 8};
  encode::SymbolMelody m;
  m.steps.push_back({false, 0, 8});
  while (2 * m.steps.size() + 4 < symbols) {
    if (coin(rng) == 0) m.steps.push_back({true, 0, durations[pick(rng)]});
    m.steps.push_back({false, iv(rng), durations[pick(rng)]});
  }
  return m;
}

void per_symbol(benchmark::State& state, std::size_t symbols) {
  state.counters["symbols"] = static_cast<double>(symbols);
  state.counters["s_per_symbol"] = benchmark::Counter(
      static_cast<double>(symbols),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

std::size_t arg(const benchmark::State& state) { return static_cast<std::size_t>(state.range(0)); }

void BM_Decode(benchmark::State& state, const encode::Codec& codec) {
  const std::string line = codec.encode(melody_of_length(arg(state), 1));
  for (auto _ : state) benchmark::DoNotOptimize(codec.decode(line));
  per_symbol(state, line.size());
}

void BM_Encode(benchmark::State& state, const encode::Codec& codec) {
  const encode::SymbolMelody m = melody_of_length(arg(state), 1);
  std::size_t size = 0;
  for (auto _ : state) {
    const std::string line = codec.encode(m);
    size = line.size();
    benchmark::DoNotOptimize(line.data());
  }
  per_symbol(state, size);
}

void BM_Render(benchmark::State& state) {
  const std::string line = encode::native_codec().encode(melody_of_length(arg(state), 2));
  const auto path = std::filesystem::temp_directory_path() / "melodl_melody_length_bench.mid";
  for (auto _ : state) {
    const encode::DecodeResult d = encode::native_codec().decode(line);
    encode::MelodySongOptions o;
    o.name = "bench";
    melodl::midi::write_file(path, encode::melody_to_song(d.melody, o));
  }
  std::filesystem::remove(path);
  per_symbol(state, line.size());
}

std::vector<encode::SymbolMelody> fixed_corpus() {
  std::vector<encode::SymbolMelody> corpus;
  for (unsigned i = 0; i < 32; ++i) corpus.push_back(melody_of_length(420, 100 + i));
  return corpus;
}

void BM_Match(benchmark::State& state) {
  const eval::CorpusIndex index(fixed_corpus());
  encode::SymbolMelody gen = melody_of_length(arg(state), 3);
  // A copy of a corpus melody in the middle, so the alignment has something to find.
  const auto& src = fixed_corpus()[7].steps;
  gen.steps.insert(gen.steps.begin() + static_cast<long>(gen.steps.size() / 2), src.begin() + 1,
                   src.end());
  const std::size_t symbols = encode::native_codec().encode(gen).size();
  eval::MatchOptions o;
  o.threads = 1;
  for (auto _ : state) benchmark::DoNotOptimize(eval::match_melodies(index, {gen}, o));
  per_symbol(state, symbols);
}

// The corpus holds the long melody and the query is a copy of it: the exact-copy
// statistics (the former quadratic case), and the index build they need (suffix array by
// prefix doubling, O(N log N); LCP; SIMD batches).
std::vector<encode::SymbolMelody> corpus_with_long_melody(std::size_t symbols) {
  std::vector<encode::SymbolMelody> corpus = fixed_corpus();
  corpus.push_back(melody_of_length(symbols, 4));
  return corpus;
}

void BM_CopyNovelty(benchmark::State& state) {
  const auto corpus = corpus_with_long_melody(arg(state));
  const eval::CorpusIndex index(corpus);
  const auto query = eval::tokenize(corpus.back()).tokens;
  for (auto _ : state) benchmark::DoNotOptimize(index.novelty(query));
  per_symbol(state, encode::native_codec().encode(corpus.back()).size());
}

void BM_CorpusIndex(benchmark::State& state) {
  const auto corpus = corpus_with_long_melody(arg(state));
  for (auto _ : state) benchmark::DoNotOptimize(eval::CorpusIndex(corpus).total_tokens());
  per_symbol(state, encode::native_codec().encode(corpus.back()).size());
}

void BM_Ngram(benchmark::State& state) {
  const encode::Codec& codec = encode::native_codec();
  const std::string line = codec.encode(melody_of_length(arg(state), 5));
  const eval::SymbolVocabulary vocab(codec);
  // The symbols between '<' and '>', as pipeline::ngram_sequences gives them.
  const std::vector<std::vector<int>> seqs = {vocab.ids(line.substr(1, line.size() - 2))};
  for (auto _ : state) {
    eval::NgramModel lm(vocab.size(), {.order = 6});
    lm.train(seqs);
    benchmark::DoNotOptimize(eval::evaluate(lm, seqs));
  }
  per_symbol(state, line.size());
}

void BM_Style(benchmark::State& state) {
  const std::vector<encode::SymbolMelody> m = {melody_of_length(arg(state), 6)};
  const std::size_t symbols = encode::native_codec().encode(m[0]).size();
  for (auto _ : state) benchmark::DoNotOptimize(eval::style_of(m));
  per_symbol(state, symbols);
}

void lengths(benchmark::internal::Benchmark* b) {
  b->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
}

BENCHMARK_CAPTURE(BM_Decode, native, encode::native_codec())->Apply(lengths);
BENCHMARK_CAPTURE(BM_Encode, native, encode::native_codec())->Apply(lengths);
BENCHMARK_CAPTURE(BM_Decode, melodl4j_v1, encode::melodl4j_v1_codec())->Apply(lengths);
BENCHMARK_CAPTURE(BM_Encode, melodl4j_v1, encode::melodl4j_v1_codec())->Apply(lengths);
BENCHMARK(BM_Render)->Apply(lengths);
BENCHMARK(BM_Match)->Apply(lengths);
BENCHMARK(BM_CopyNovelty)->Apply(lengths);
BENCHMARK(BM_CorpusIndex)->Apply(lengths);
BENCHMARK(BM_Ngram)->Apply(lengths);
BENCHMARK(BM_Style)->Apply(lengths);

}  // namespace

BENCHMARK_MAIN();
