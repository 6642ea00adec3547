// tests/pipeline/train_test_util.h: shared helpers of the tests/train suite: random
// grammatical melodies from a few fake source files, temp directories, running the
// melodl program.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "pipeline/corpus.h"
#include "pipeline/playback.h"

namespace melodl::train_test {

// Melodies with a learnable pattern (scales up and down, a few durations), `per_source`
// of them from each of `sources` files named src-<k>.mid.
inline std::vector<pipeline::CorpusEntry> make_entries(int sources, int per_source,
                                                       unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::vector<pipeline::CorpusEntry> out;
  for (int s = 0; s < sources; ++s)
    for (int k = 0; k < per_source; ++k) {
      encode::SymbolMelody m;
      const int n = 12 + static_cast<int>(rng() % 20);
      int dir = (rng() % 2) ? 1 : -1;
      for (int i = 0; i < n; ++i) {
        if (i % 7 == 6) dir = -dir;
        if (i > 0 && rng() % 11 == 0) m.steps.push_back({true, 0, 4});
        m.steps.push_back({false, dir * static_cast<int>(1 + rng() % 2), (i % 4 == 3) ? 16 : 8});
      }
      out.push_back({"src-" + std::to_string(s) + ".mid", encode::native_codec().encode(m), 0, 60});
    }
  return out;
}

// A melodies file DIR/NAME.txt of make_entries(4, 4, seed), sources named NAME-src-<k>.mid.
inline std::filesystem::path melodies_file(const std::filesystem::path& dir,
                                           const std::string& name, unsigned seed) {
  std::vector<pipeline::GeneratedLine> lines;
  for (const auto& e : make_entries(4, 4, seed))
    lines.push_back({e.text, name + "-" + e.source, 0, 60});
  const std::filesystem::path p = dir / (name + ".txt");
  std::ofstream(p) << pipeline::generated_lines_file(pipeline::LineKind::melody, lines);
  return p;
}

// A fresh directory under the system temp dir, removed when the test program exits.
inline std::filesystem::path temp_dir(const std::string& name) {
  static std::vector<std::filesystem::path> made;
  static const bool registered = [] {
    std::atexit([] {
      std::error_code ec;
      for (const auto& d : made) std::filesystem::remove_all(d, ec);
    });
    return true;
  }();
  (void)registered;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("melodl-train-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  made.push_back(dir);
  return dir;
}

struct CommandResult {
  int code = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command line, capturing its output and exit code.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace melodl::train_test
