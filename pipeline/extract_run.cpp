// pipeline/extract_run.cpp: see extract_run.h.
#include "pipeline/extract_run.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <random>
#include <sstream>
#include <system_error>
#include <thread>

#include "encode/melody_file.h"
#include "midi/reader.h"

namespace melodl::pipeline {
namespace fs = std::filesystem;

namespace {

void clear_lines(FileOutcome& o) { o.melodies.clear(); }
void clear_lines(HarmonyFileOutcome& o) { o.lines.clear(); }

// Reads one file in `mode` into `out` (source, bytes, ok/error, repairs) and hands the song
// to extract(song),
// which fills the mode's fields. Unreadable files and anything thrown become out.error:
// the reader promises errors as values; anything thrown (bad_alloc, a bug in extraction) is
// still this file's failure, not the run's (its kept lines are dropped).
template <class Outcome, class Extract>
Outcome read_and_extract(const fs::path& path, midi::ReadMode mode, Extract extract) {
  Outcome out;
  out.source = path.generic_string();
  std::error_code ec;
  out.bytes = fs::file_size(path, ec);
  if (ec) out.bytes = 0;
  try {
    auto read = midi::read_file(path, mode);
    if (!read) {
      out.error = read.error().what();
      return out;
    }
    out.ok = true;
    out.repairs = std::move(read->repairs);
    out.notes = read->song.note_count();
    extract(read->song, out);
  } catch (const std::exception& e) {
    out.ok = false;
    out.error = out.source + ": " + e.what();
    out.repairs = {};
    out.comments.clear();
    clear_lines(out);
  }
  return out;
}

FileOutcome process_file(const fs::path& path, const encode::ExtractOptions& options,
                         const encode::Codec& codec, midi::ReadMode mode) {
  return read_and_extract<FileOutcome>(path, mode, [&](const midi::Song& song, FileOutcome& out) {
    out.tracks = song.tracks.size();
    encode::ExtractResult res = encode::extract_melodies(song, options);
    out.stats = res.stats;
    out.comments.reserve(res.melodies.size());
    out.melodies.reserve(res.melodies.size());
    for (const auto& m : res.melodies) {
      out.comments.push_back(provenance_comment(m, out.source));
      out.melodies.push_back(codec.encode(m.symbols));
    }
  });
}

// Runs process(files[i]) on `jobs` threads (0 = one per core). Results land at their
// index, so the output order never depends on the thread count; on_done is called after
// each file, in completion order.
template <class Outcome, class Process>
std::vector<Outcome> map_files(const std::vector<fs::path>& files, unsigned jobs,
                               const FileDoneFn& on_done, Process process) {
  std::vector<Outcome> outcomes(files.size());
  if (jobs == 0) jobs = std::max(1u, std::thread::hardware_concurrency());
  jobs = static_cast<unsigned>(std::min<std::size_t>(jobs, std::max<std::size_t>(files.size(), 1)));
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < files.size(); i = next++) {
      outcomes[i] = process(files[i]);
      const std::size_t d = ++done;
      if (on_done) on_done(d, outcomes[i].source);
    }
  };
  if (jobs <= 1) {
    worker();
  } else {
    std::vector<std::jthread> pool;
    pool.reserve(jobs);
    for (unsigned t = 0; t < jobs; ++t) pool.emplace_back(worker);
  }
  return outcomes;
}

}  // namespace

std::vector<FileOutcome> extract_files(const std::vector<fs::path>& files,
                                       const encode::ExtractOptions& options,
                                       const encode::Codec& codec, unsigned jobs,
                                       const FileDoneFn& on_done, midi::ReadMode mode) {
  return map_files<FileOutcome>(files, jobs, on_done, [&](const fs::path& f) {
    return process_file(f, options, codec, mode);
  });
}

std::vector<bool> split_by_source(const std::vector<bool>& gave_lines, double fraction,
                                  std::uint64_t seed) {
  std::vector<bool> valid(gave_lines.size(), false);
  if (!(fraction > 0.0)) return valid;
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < gave_lines.size(); ++i)
    if (gave_lines[i]) candidates.push_back(i);
  const std::size_t n = candidates.size();
  if (n < 2) return valid;
  auto k = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
  k = std::clamp<std::size_t>(k, 1, n - 1);
  // Fisher-Yates with our own index draw: std::shuffle and the standard distributions
  // differ between standard libraries; mt19937_64's output sequence does not.
  std::mt19937_64 rng(seed);
  for (std::size_t i = n - 1; i > 0; --i) {
    const std::uint64_t range = i + 1;
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % range;  // rejection: no modulo bias
    std::uint64_t r;
    do r = rng();
    while (r >= limit);
    std::swap(candidates[i], candidates[static_cast<std::size_t>(r % range)]);
  }
  for (std::size_t j = 0; j < k; ++j) valid[candidates[j]] = true;
  return valid;
}

std::vector<bool> split_by_source(const std::vector<FileOutcome>& outcomes, double fraction,
                                  std::uint64_t seed) {
  std::vector<bool> gave_lines(outcomes.size());
  for (std::size_t i = 0; i < outcomes.size(); ++i) gave_lines[i] = !outcomes[i].melodies.empty();
  return split_by_source(gave_lines, fraction, seed);
}

encode::ExtractStats total_stats(const std::vector<FileOutcome>& outcomes) {
  encode::ExtractStats total;
  for (const auto& o : outcomes) total += o.stats;
  return total;
}

namespace {

HarmonyFileOutcome process_harmony_file(const fs::path& path, const encode::HarmonyOptions& options,
                                        const encode::HarmonyCodec& codec, midi::ReadMode mode) {
  return read_and_extract<HarmonyFileOutcome>(
      path, mode, [&](const midi::Song& song, HarmonyFileOutcome& out) {
        const encode::HarmonyResult res = encode::extract_harmonies(song, options);
        out.stats = res.stats;
        for (const auto& h : res.harmonies) {
          out.comments.push_back(harmony_provenance_comment(h, out.source));
          out.lines.push_back(codec.encode(h.harmony));
        }
      });
}

}  // namespace

std::vector<HarmonyFileOutcome> extract_harmony_files(const std::vector<fs::path>& files,
                                                      const encode::HarmonyOptions& options,
                                                      const encode::HarmonyCodec& codec,
                                                      unsigned jobs, const FileDoneFn& on_done,
                                                      midi::ReadMode mode) {
  return map_files<HarmonyFileOutcome>(files, jobs, on_done, [&](const fs::path& f) {
    return process_harmony_file(f, options, codec, mode);
  });
}

std::string harmonies_header(std::string_view format) {
  return std::string(encode::kHarmoniesHeaderPrefix) + std::string(format) + " version=1";
}

std::string harmonies_grid_comment(const encode::HarmonyOptions& o) {
  std::ostringstream s;
  s << "// grid step_s=" << o.step_seconds << " tempo=" << (o.average_tempo ? "average" : "map")
    << " steps_per_beat=" << o.steps_per_beat << " remove_silences=" << (o.remove_silences ? 1 : 0)
    << " legato_fix=" << (o.legato_fix ? 1 : 0);
  return s.str();
}

std::string harmony_provenance_comment(const encode::ExtractedHarmony& h, std::string_view source) {
  std::ostringstream s;
  s << "// lower_voice=" << h.lower_voice << " upper_voice=" << h.upper_voice
    << " lower_program=" << h.lower_program << " upper_program=" << h.upper_program
    << " steps=" << h.harmony.steps() << " step_s=" << h.step_seconds << " source=" << source;
  return s.str();
}

}  // namespace melodl::pipeline
