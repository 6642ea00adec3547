// bench/extract_bench.cpp: throughput of melodl's MIDI reader and melody extraction
// over whole corpora, single-threaded (the comparison with mido in
// bench/mido_compare.py is one thread against one thread). One iteration = every file
// of the corpus. Benchmarks per corpus:
//   load/<corpus>          midi::read_file on each file (file read + parse), strict
//   load_extract/<corpus>  read_file + encode::extract_melodies (v1 defaults), strict
//   load_recover/<corpus>, load_extract_recover/<corpus>: the same in recover mode (the
//                          default of `melodl extract` since issue 17)
//   parse/<corpus>         midi::read_bytes on bytes already in memory (parse only)
// Counters: files/s, MB/s, notes/s; files, MB and notes per iteration.
// Corpora: bach = data/bach, corpora = ../shared/corpora (SkipWithError if absent);
// add more with --corpus=NAME:DIR. Run:
//   build/bench/extract_bench --benchmark_filter=load
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "encode/melody.h"
#include "midi/reader.h"

namespace fs = std::filesystem;

namespace {

struct Corpus {
  std::string name;
  fs::path dir;
  std::vector<fs::path> files;
  std::vector<std::vector<std::uint8_t>> bytes;  // loaded on first use by parse/
  std::uintmax_t total_bytes = 0;
  std::size_t notes = 0;  // counted once, to report notes/s
};

// Same selection rule as `melodl extract`: recursive, *.mid *.midi *.rmi *.kar, sorted.
std::vector<fs::path> midi_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".mid" || ext == ".midi" || ext == ".rmi" || ext == ".kar")
      out.push_back(it->path());
  }
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    return a.generic_string() < b.generic_string();
  });
  return out;
}

std::shared_ptr<Corpus> make_corpus(std::string name, fs::path dir) {
  auto c = std::make_shared<Corpus>();
  c->name = std::move(name);
  c->dir = std::move(dir);
  c->files = midi_files(c->dir);
  for (const auto& f : c->files) {
    std::error_code ec;
    c->total_bytes += fs::file_size(f, ec);
    auto song = melodl::midi::read_file(f);
    if (song) c->notes += song->note_count();
  }
  return c;
}

void set_counters(benchmark::State& state, const Corpus& c) {
  const double iters = static_cast<double>(state.iterations());
  const double files = static_cast<double>(c.files.size());
  const double mb = static_cast<double>(c.total_bytes) / 1e6;
  const double notes = static_cast<double>(c.notes);
  state.counters["files/s"] = benchmark::Counter(files * iters, benchmark::Counter::kIsRate);
  state.counters["MB/s"] = benchmark::Counter(mb * iters, benchmark::Counter::kIsRate);
  state.counters["notes/s"] = benchmark::Counter(notes * iters, benchmark::Counter::kIsRate);
  state.counters["files"] = files;
  state.counters["MB"] = mb;
  state.counters["notes"] = notes;
}

bool check_corpus(benchmark::State& state, const Corpus& c) {
  if (c.files.empty()) {
    state.SkipWithError(("no MIDI files in " + c.dir.string() + " (corpus absent)").c_str());
    return false;
  }
  return true;
}

void bm_load(benchmark::State& state, std::shared_ptr<Corpus> c, melodl::midi::ReadMode mode) {
  if (!check_corpus(state, *c)) return;
  for (auto _ : state) {
    std::size_t notes = 0;
    for (const auto& f : c->files) {
      auto read = melodl::midi::read_file(f, mode);
      if (read) notes += read->song.note_count();
    }
    benchmark::DoNotOptimize(notes);
  }
  set_counters(state, *c);
}

void bm_load_extract(benchmark::State& state, std::shared_ptr<Corpus> c,
                     melodl::midi::ReadMode mode) {
  if (!check_corpus(state, *c)) return;
  const melodl::encode::ExtractOptions options;
  std::size_t kept = 0;
  for (auto _ : state) {
    kept = 0;
    for (const auto& f : c->files) {
      auto read = melodl::midi::read_file(f, mode);
      if (!read) continue;
      kept += melodl::encode::extract_melodies(read->song, options).melodies.size();
    }
    benchmark::DoNotOptimize(kept);
  }
  set_counters(state, *c);
  state.counters["melodies"] = static_cast<double>(kept);
}

void bm_parse(benchmark::State& state, std::shared_ptr<Corpus> c) {
  if (!check_corpus(state, *c)) return;
  if (c->bytes.empty()) {
    for (const auto& f : c->files) {
      std::ifstream in(f, std::ios::binary);
      c->bytes.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  for (auto _ : state) {
    std::size_t notes = 0;
    for (std::size_t i = 0; i < c->bytes.size(); ++i) {
      auto song = melodl::midi::read_bytes(c->bytes[i], c->files[i].string());
      if (song) notes += song->note_count();
    }
    benchmark::DoNotOptimize(notes);
  }
  set_counters(state, *c);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::shared_ptr<Corpus>> corpora;
  const fs::path root(MELODL_SOURCE_DIR);
  std::vector<char*> rest;
  std::vector<std::pair<std::string, fs::path>> wanted = {
      {"bach", root / "data" / "bach"}, {"corpora", root / ".." / "shared" / "corpora"}};
  bool custom = false;
  for (int i = 0; i < argc; ++i) {
    constexpr const char* kFlag = "--corpus=";
    if (i > 0 && std::strncmp(argv[i], kFlag, std::strlen(kFlag)) == 0) {
      const std::string spec = argv[i] + std::strlen(kFlag);
      const auto colon = spec.find(':');
      if (colon == std::string::npos) {
        std::fprintf(stderr, "extract_bench: --corpus wants NAME:DIR, got %s\n", spec.c_str());
        return 2;
      }
      if (!custom) wanted.clear();
      custom = true;
      wanted.emplace_back(spec.substr(0, colon), spec.substr(colon + 1));
    } else {
      rest.push_back(argv[i]);
    }
  }
  for (auto& [name, dir] : wanted) {
    auto c = make_corpus(name, dir);
    using melodl::midi::ReadMode;
    for (const auto& [suffix, mode] :
         {std::pair{"", ReadMode::strict}, std::pair{"_recover", ReadMode::recover}}) {
      benchmark::RegisterBenchmark(("load" + std::string(suffix) + "/" + name).c_str(), bm_load, c,
                                   mode)
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("load_extract" + std::string(suffix) + "/" + name).c_str(),
                                   bm_load_extract, c, mode)
          ->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark(("parse/" + name).c_str(), bm_parse, c)
        ->Unit(benchmark::kMillisecond);
    corpora.push_back(std::move(c));
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
