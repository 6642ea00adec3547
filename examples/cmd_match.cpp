// examples/cmd_match.cpp: `melodl match`: how much do generated melodies copy the
// training corpus? For each generated melody: the most similar corpus melody by local
// alignment over note tokens (score, aligned notes and positions on both sides,
// percentage identity), the longest exact copy and the n-gram overlap (n = 4..8), plus
// set-level style overlap and invalid-symbol rate. Both files are melodies files as
// `melodl extract` writes them. Method: eval/match.h, docs/evaluation.md.
// Two harmonies files (`melodl extract --harmonies`, compose/train of a harmony model):
// each generated harmony's longest exact copy of both voices (in steps) and step n-gram
// overlap, and per voice the best alignment against the corpus voices of the same role
// and the longest exact copy in notes (eval/harmony_match.h).
// Usage: melodl match samples.txt --corpus out/melodies.txt --top 3 --json match.json
//        --render match-midi
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/files.h"
#include "encode/codec.h"
#include "encode/harmony.h"
#include "encode/melody_file.h"
#include "eval/match_files.h"
#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/flags.h"

namespace encode = melodl::encode;
namespace eval = melodl::eval;

namespace {

using melodl::cli::add_in_range;

namespace fs = std::filesystem;
namespace mp = melodl::eval;

struct MatchArgs {
  std::string generated;
  std::string corpus;
  std::string format = "auto";
  std::size_t top = 1;
  std::string json;
  std::string render_dir;
  unsigned threads = 0;
  bool quiet = false;
};

int run_match_harmonies(const MatchArgs& args, encode::MelodyFile gen_file,
                        encode::MelodyFile corpus_file, std::chrono::steady_clock::time_point t0) {
  if (!args.render_dir.empty())
    throw melodl::cli::UsageError(
        "--render is for melodies; play harmonies with `melodl render` or compose's MIDI files");
  const eval::HarmonySet gen =
      eval::load_harmony_set(std::move(gen_file), args.generated, "generated harmonies");
  const eval::HarmonySet corpus =
      eval::load_harmony_set(std::move(corpus_file), args.corpus, "corpus");
  const eval::HarmonyCorpusIndex index(corpus.harmonies);
  const auto t1 = std::chrono::steady_clock::now();
  eval::MatchOptions opt;
  opt.top = args.top;
  opt.threads = args.threads;
  std::vector<melodl::encode::SymbolMelody> lows, ups;
  for (const auto& h : gen.harmonies) {
    lows.push_back(melodl::encode::voice_melody(h.lower));
    ups.push_back(melodl::encode::voice_melody(h.upper));
  }
  const auto low_reports = eval::match_melodies(index.lower(), lows, opt);
  const auto up_reports = eval::match_melodies(index.upper(), ups, opt);
  std::vector<eval::HarmonyNovelty> nov;
  for (const auto& h : gen.harmonies) nov.push_back(index.novelty(h));
  const auto t2 = std::chrono::steady_clock::now();
  const double index_s = std::chrono::duration<double>(t1 - t0).count();
  const double match_s = std::chrono::duration<double>(t2 - t1).count();
  const auto best = [](const eval::MatchReport& r) {
    return r.candidates.empty() ? eval::MatchCandidate{} : r.candidates[0];
  };
  if (!args.quiet) {
    std::printf(
        "melodl match: %zu generated harmonies against %zu corpus harmonies (%zu steps; voices "
        "%zu + %zu notes)\n",
        gen.harmonies.size(), index.size(), index.joint().total_tokens(),
        index.lower().total_tokens(), index.upper().total_tokens());
    std::printf("%5s %6s %10s %16s %22s %22s  %s\n", "gen", "steps", "copy steps", "onset copy",
                "lower: copy/best ident", "upper: copy/best ident",
                "step n-gram overlap % (n = 4 5 6 7 8)");
    for (std::size_t i = 0; i < nov.size(); ++i) {
      const auto& n = nov[i];
      std::string ov;
      for (const auto& o : n.joint.overlap) {
        char buf[16];
        std::snprintf(buf, sizeof buf, " %5.1f", o.total ? 100.0 * o.fraction() : 0.0);
        ov += buf;
      }
      const auto lb = best(low_reports[i]), ub = best(up_reports[i]);
      char lo[48], up[48];
      std::snprintf(lo, sizeof lo, "%zu n / #%zu %.0f%%", n.lower.longest_copy.length,
                    lb.corpus_index + 1, lb.alignment.identity);
      std::snprintf(up, sizeof up, "%zu n / #%zu %.0f%%", n.upper.longest_copy.length,
                    ub.corpus_index + 1, ub.alignment.identity);
      char oc[40];
      std::snprintf(oc, sizeof oc, "%zu in %zu st", n.onset_copy, n.onset_copy_steps);
      std::printf("%5zu %6zu %10zu %16s %22s %22s %s\n", i + 1, n.steps,
                  n.joint.longest_copy.length, oc, lo, up, ov.c_str());
    }
    std::printf("invalid symbols in the generated file: %zu of %zu\n", gen.skipped, gen.symbols);
    std::printf("time: index %.2f s, matching %.2f s\n", index_s, match_s);
    std::printf(
        "(copy steps = longest run of steps, both voices, found verbatim in one corpus harmony "
        "(a step is 1/16 s; held notes make it long); onset copy = the copied run with the most "
        "note onsets (both voices) and its steps; per voice: longest exact copy in notes / "
        "best-aligned corpus harmony (1-based) and its identity)\n");
  }
  if (!args.json.empty()) {
    const auto j = eval::harmony_match_report(args.generated, args.corpus, gen, index, nov,
                                              low_reports, up_reports, index_s, match_s);
    melodl::write_file_atomic(args.json, j.dump(2) + "\n");
    if (!args.quiet) std::printf("report: %s\n", args.json.c_str());
  }
  std::fflush(stdout);
  return 0;
}

int run_match(const MatchArgs& args) {
  if (args.top == 0) throw melodl::cli::UsageError("--top must be at least 1");
  if (!fs::exists(args.generated))
    throw melodl::cli::Error("generated melodies file " + args.generated + " does not exist");
  if (!fs::exists(args.corpus))
    throw melodl::cli::Error("corpus file " + args.corpus + " does not exist");
  // Each file is read once: its header says melodies or harmonies, then it is decoded.
  const auto t0 = std::chrono::steady_clock::now();
  encode::MelodyFile gen_file = encode::read_melody_file(args.generated);
  encode::MelodyFile corpus_file = encode::read_melody_file(args.corpus);
  const bool gen_h = gen_file.harmonies, corpus_h = corpus_file.harmonies;
  if (gen_h != corpus_h)
    throw melodl::cli::Error(std::string("cannot match ") + (gen_h ? "harmonies" : "melodies") +
                             " (" + args.generated + ") against " +
                             (corpus_h ? "harmonies" : "melodies") + " (" + args.corpus +
                             "): give two files of one kind");
  if (gen_h) return run_match_harmonies(args, std::move(gen_file), std::move(corpus_file), t0);
  const eval::MelodySet gen =
      eval::load_melody_set(std::move(gen_file), args.generated, args.format, "generated melodies");
  const eval::MelodySet corpus =
      eval::load_melody_set(std::move(corpus_file), args.corpus, args.format, "corpus");
  for (const auto* set : {&gen, &corpus})
    if (!set->warning.empty())
      std::fprintf(stderr, "melodl match: warning: %s\n", set->warning.c_str());
  const eval::CorpusIndex index(corpus.melodies);
  if (index.total_tokens() == 0)
    throw melodl::cli::Error("corpus file " + args.corpus + " holds no notes after decoding");
  const auto t1 = std::chrono::steady_clock::now();
  eval::MatchOptions opt;
  opt.top = args.top;
  opt.threads = args.threads;
  const auto reports = eval::match_melodies(index, gen.melodies, opt);
  const auto t2 = std::chrono::steady_clock::now();
  const double index_s = std::chrono::duration<double>(t1 - t0).count();
  const double match_s = std::chrono::duration<double>(t2 - t1).count();

  // Set-level statistics.
  const auto style =
      eval::compare_style(eval::style_of(corpus.melodies), eval::style_of(gen.melodies));
  const auto invalid = eval::invalid_symbol_rate(gen.decoded, gen.lengths);

  if (!args.quiet) {
    std::printf("melodl match: %zu generated melodies against %zu corpus melodies (%zu notes)\n",
                gen.melodies.size(), index.size(), index.total_tokens());
    std::printf("%5s %5s %7s %6s %7s %10s %10s %7s %6s %5s  %s\n", "gen", "notes", "corpus",
                "score", "score%", "gen range", "corp range", "len g/c", "ident%", "copy",
                "n-gram overlap % (n = 4 5 6 7 8)");
    for (std::size_t i = 0; i < reports.size(); ++i) {
      const auto& r = reports[i];
      std::string ov;
      for (const auto& o : r.novelty.overlap) {
        char buf[16];
        if (o.total)
          std::snprintf(buf, sizeof buf, " %5.1f", 100.0 * o.fraction());
        else
          std::snprintf(buf, sizeof buf, " %5s", "-");
        ov += buf;
      }
      for (std::size_t k = 0; k < std::max<std::size_t>(1, r.candidates.size()); ++k) {
        if (r.candidates.empty()) {
          std::printf("%5zu %5zu %7s\n", i + 1, r.tokens, "-");
          break;
        }
        const auto& c = r.candidates[k];
        const auto& a = c.alignment;
        char copy[32];
        std::snprintf(copy, sizeof copy, "%zu", r.novelty.longest_copy.length);
        std::printf(
            "%5s %5s %7zu %6d %6.1f%% %10s %10s %7s %5.1f%% %5s %s\n",
            k == 0 ? std::to_string(i + 1).c_str() : "",
            k == 0 ? std::to_string(r.tokens).c_str() : "", c.corpus_index + 1, a.score,
            100.0 * c.score_fraction,
            a.score ? eval::note_range(a.query_begin, a.query_end).c_str() : "-",
            a.score ? eval::note_range(a.target_begin, a.target_end).c_str() : "-",
            (std::to_string(a.query_length()) + "/" + std::to_string(a.target_length())).c_str(),
            a.identity, k == 0 ? copy : "", k == 0 ? ov.c_str() : "");
      }
    }
    std::printf("style overlap with the corpus: intervals %.3f, durations %.3f, rests %.3f\n",
                style.intervals, style.durations, style.rests);
    std::printf("invalid symbols in the generated file: %zu of %zu (%.2f%%)\n", invalid.skipped,
                invalid.symbols, 100.0 * invalid.rate());
    std::printf("time: index %.2f s, alignment %.2f s\n", index_s, match_s);
    std::printf(
        "(corpus and note positions are 1-based; len = aligned notes generated/corpus; "
        "copy = longest exact copy in notes)\n");
  }

  if (!args.json.empty()) {
    const auto j =
        eval::melody_match_report(args.generated, args.corpus, gen, corpus, index, reports,
                                  opt.scoring, style, invalid, index_s, match_s);
    melodl::write_file_atomic(args.json, j.dump(2) + "\n");
    if (!args.quiet) std::printf("report: %s\n", args.json.c_str());
  }

  if (!args.render_dir.empty()) {
    const fs::path dir(args.render_dir);
    melodl::ensure_directory(dir);
    for (std::size_t i = 0; i < reports.size(); ++i) {
      if (gen.melodies[i].steps.empty()) continue;
      eval::render_match(dir, i, gen, corpus, index, reports[i]);
    }
    if (!args.quiet)
      std::printf(
          "MIDI: %s/sample-NNNN.mid (generated), -match.mid (corpus excerpt), -pair.mid "
          "(both, one after the other)\n",
          dir.c_str());
  }
  std::fflush(stdout);
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<MatchArgs>();
  sub.footer(
      "Alignment: Smith-Waterman over note tokens (interval, duration, rest before), exact "
      "against every corpus melody (no prefilter). See docs/evaluation.md for the scores.");
  sub.add_option("generated", a->generated, "Melodies file of generated melodies")->required();
  sub.add_option("--corpus", a->corpus, "Melodies file of the training corpus (melodl extract)")
      ->required();
  sub.add_option("--format", a->format,
                 "Melody string format of both files: auto (each file's header comment, else "
                 "native), native or melodl4j-v1")
      ->check(CLI::IsMember({"auto", "native", "melodl4j-v1"}))
      ->capture_default_str();
  add_in_range(sub, "--top", a->top, "Corpus candidates reported per generated melody", 1, 1000);
  sub.add_option("--json", a->json, "Also write the full report as JSON to this file");
  sub.add_option("--render", a->render_dir,
                 "Write each generated melody and its best corpus match as MIDI files here");
  sub.add_option("--threads", a->threads, "Alignment threads (0 = all cores)")
      ->capture_default_str();
  sub.add_flag("-q,--quiet", a->quiet, "Print nothing (use with --json)");
  return [a] { return run_match(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(match, "match",
                        "Find the closest training melody of each generated melody (copy check)",
                        setup);
