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

#include "encode/codec.h"
#include "encode/harmony.h"
#include "examples/cli_error.h"
#include "examples/command.h"
#include "base/files.h"
#include "encode/melody_file.h"
#include "encode/melody_song.h"
#include "eval/harmony_match.h"
#include "eval/match.h"
#include "eval/style.h"
#include "midi/writer.h"

namespace encode = melodl::encode;
namespace eval = melodl::eval;


namespace {

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

// A melodies file, decoded.
struct Loaded {
  std::string path;
  std::string format;
  encode::MelodyFile file;
  std::vector<melodl::encode::SymbolMelody> melodies;
  std::vector<melodl::encode::DecodeResult> decoded;
  std::vector<std::size_t> lengths;
};

Loaded load(const std::string& path, const std::string& format_flag, const char* what) {
  Loaded l;
  l.path = path;
  if (!fs::exists(path))
    throw melodl::cli::Error(std::string(what) + " file " + path + " does not exist");
  l.file = encode::read_melody_file(path);
  if (l.file.melodies.empty())
    throw melodl::cli::Error(std::string(what) + " file " + path +
                             " holds no melodies (one codec string per line; `//` lines are "
                             "comments)");
  l.format = format_flag;
  if (l.format == "auto") {
    l.format = l.file.format.empty() ? "native" : l.file.format;
  } else if (!l.file.format.empty() && l.file.format != l.format) {
    std::fprintf(stderr, "melodl match: warning: %s says format=%s; decoding as %s (--format)\n",
                 path.c_str(), l.file.format.c_str(), l.format.c_str());
  }
  const melodl::encode::Codec* codec = nullptr;
  try {
    codec = &melodl::encode::codec_by_name(l.format);
  } catch (const std::exception&) {
    throw melodl::cli::Error(path + ": unknown melody format '" + l.format +
                             "' (expected native or melodl4j-v1; use --format)");
  }
  for (const auto& rec : l.file.melodies) {
    l.decoded.push_back(codec->decode(rec.text));
    l.lengths.push_back(rec.text.size());
    l.melodies.push_back(l.decoded.back().melody);
  }
  return l;
}

std::string range(std::size_t begin, std::size_t end) {
  return std::to_string(begin + 1) + "-" + std::to_string(end);  // 1-based, inclusive
}

// Pitch of the k-th note when the melody is played from start_pitch.
int pitch_of_note(const melodl::encode::SymbolMelody& m, std::size_t k, int start_pitch) {
  melodl::encode::RenderOptions r;
  r.start_pitch = start_pitch;
  const auto notes = melodl::encode::to_notes(m, r);
  return k < notes.size() ? notes[k].pitch : start_pitch;
}

void render_pair(const fs::path& dir, std::size_t index, const Loaded& gen, const Loaded& corpus,
                 const eval::CorpusIndex& index_, const eval::MatchReport& report) {
  const auto& g = gen.melodies[index];
  const auto& meta = gen.file.melodies[index].meta;
  char stem[32];
  std::snprintf(stem, sizeof stem, "sample-%04zu", index + 1);
  encode::MelodySongOptions o;
  o.start_pitch = meta.start_pitch >= 0 ? meta.start_pitch : 60;
  if (meta.program >= 0) o.program = meta.program;
  o.name = "generated " + std::to_string(index + 1);
  melodl::midi::write_file(dir / (std::string(stem) + ".mid"), encode::melody_to_song(g, o));
  if (report.candidates.empty() || report.candidates[0].alignment.score == 0) return;
  const eval::MatchCandidate& best = report.candidates[0];
  const eval::Alignment& a = best.alignment;
  // Both excerpts start at the pitch the generated excerpt has in the whole melody
  // (interval tokens are transposition-invariant).
  const eval::TokenizedMelody gt = eval::tokenize(g);
  const auto gen_part = eval::excerpt(g, gt, a.query_begin, a.query_end);
  const auto& cm = corpus.melodies[best.corpus_index];
  const auto corpus_part =
      eval::excerpt(cm, index_.melody(best.corpus_index), a.target_begin, a.target_end);
  encode::MelodySongOptions po = o;
  po.start_pitch = pitch_of_note(g, a.query_begin, o.start_pitch);
  po.name = "corpus melody " + std::to_string(best.corpus_index + 1) + " notes " +
            range(a.target_begin, a.target_end);
  const auto match_song = encode::melody_to_song(corpus_part, po);
  melodl::midi::write_file(dir / (std::string(stem) + "-match.mid"), match_song);
  // The pair: generated excerpt, two beats of silence, the corpus excerpt (channel 2).
  po.name =
      "generated " + std::to_string(index + 1) + " notes " + range(a.query_begin, a.query_end);
  melodl::midi::Song pair = encode::melody_to_song(gen_part, po);
  melodl::midi::Track second = match_song.tracks.at(0);
  const std::int64_t shift = pair.end_tick + 2 * pair.division.ppq;
  for (auto& p : second.programs) p.channel = 1;
  for (auto& n : second.notes) {
    n.channel = 1;
    n.start_tick += shift;
    n.end_tick += shift;
    n.start_s = pair.tick_to_seconds(n.start_tick);
    n.end_s = pair.tick_to_seconds(n.end_tick);
  }
  second.end_tick += shift;
  pair.end_tick = std::max(pair.end_tick, second.end_tick);
  pair.duration_s = pair.tick_to_seconds(pair.end_tick);
  pair.tracks.push_back(std::move(second));
  melodl::midi::write_file(dir / (std::string(stem) + "-pair.mid"), pair);
}

nlohmann::json alignment_json(const eval::MatchCandidate& c, const Loaded& corpus) {
  const auto& a = c.alignment;
  const auto& rec = corpus.file.melodies[c.corpus_index];
  nlohmann::json j = {
      {"corpus_index", c.corpus_index},
      {"corpus_line", rec.line_number},
      {"score", a.score},
      {"score_fraction", c.score_fraction},
      {"identity_percent", a.identity},
      {"columns", a.columns},
      {"pairs", a.pairs},
      {"identical", a.identical},
      {"generated", {{"begin", a.query_begin}, {"end", a.query_end}, {"notes", a.query_length()}}},
      {"corpus", {{"begin", a.target_begin}, {"end", a.target_end}, {"notes", a.target_length()}}}};
  if (!rec.meta.source.empty()) j["corpus_source"] = rec.meta.source;
  return j;
}

// A harmonies file, decoded (any harmony codec; header format, else native).
struct LoadedHarmonies {
  encode::MelodyFile file;
  std::vector<melodl::encode::SymbolHarmony> harmonies;
  std::size_t skipped = 0, symbols = 0;
};

LoadedHarmonies load_harmonies(const std::string& path, const char* what) {
  LoadedHarmonies l;
  l.file = encode::read_melody_file(path);
  if (l.file.melodies.empty())
    throw melodl::cli::Error(std::string(what) + " file " + path + " holds no harmonies");
  const melodl::encode::HarmonyCodec* codec = nullptr;
  try {
    codec =
        &melodl::encode::harmony_codec_by_name(l.file.format.empty() ? "native" : l.file.format);
  } catch (const std::exception&) {
    throw melodl::cli::Error(path + ": unknown harmony format '" + l.file.format + "'");
  }
  for (const auto& rec : l.file.melodies) {
    auto d = codec->decode(rec.text);
    l.skipped += d.skipped + d.substituted;
    l.symbols += rec.text.size();
    l.harmonies.push_back(std::move(d.harmony));
  }
  return l;
}

nlohmann::json novelty_json(const eval::Novelty& n) {
  nlohmann::json ov = nlohmann::json::object();
  for (const auto& o : n.overlap)
    ov[std::to_string(o.n)] = o.total ? nlohmann::json(o.fraction()) : nlohmann::json(nullptr);
  return {{"longest_copy", n.longest_copy.length},
          {"longest_copy_corpus_index", n.longest_copy.corpus_index},
          {"ngram_overlap", ov}};
}

int run_match_harmonies(const MatchArgs& args) {
  if (!args.render_dir.empty())
    throw melodl::cli::UsageError(
        "--render is for melodies; play harmonies with `melodl render` or compose's MIDI files");
  const auto t0 = std::chrono::steady_clock::now();
  const LoadedHarmonies gen = load_harmonies(args.generated, "generated harmonies");
  const LoadedHarmonies corpus = load_harmonies(args.corpus, "corpus");
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
    nlohmann::json results = nlohmann::json::array();
    for (std::size_t i = 0; i < nov.size(); ++i) {
      nlohmann::json lc = nlohmann::json::array(), uc = nlohmann::json::array();
      for (const auto& c : low_reports[i].candidates)
        lc.push_back({{"corpus_index", c.corpus_index},
                      {"score", c.alignment.score},
                      {"identity_percent", c.alignment.identity}});
      for (const auto& c : up_reports[i].candidates)
        uc.push_back({{"corpus_index", c.corpus_index},
                      {"score", c.alignment.score},
                      {"identity_percent", c.alignment.identity}});
      results.push_back(
          {{"index", i},
           {"line", gen.file.melodies[i].line_number},
           {"steps", nov[i].steps},
           {"joint", novelty_json(nov[i].joint)},
           {"onset_copy", {{"onsets", nov[i].onset_copy}, {"steps", nov[i].onset_copy_steps}}},
           {"lower", novelty_json(nov[i].lower)},
           {"upper", novelty_json(nov[i].upper)},
           {"lower_candidates", lc},
           {"upper_candidates", uc}});
    }
    nlohmann::json j = {{"generated", args.generated},
                        {"corpus", args.corpus},
                        {"kind", "harmony"},
                        {"corpus_harmonies", index.size()},
                        {"corpus_steps", index.joint().total_tokens()},
                        {"invalid_symbols", {{"skipped", gen.skipped}, {"symbols", gen.symbols}}},
                        {"seconds", {{"index", index_s}, {"matching", match_s}}},
                        {"results", results}};
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
  const bool gen_h = encode::read_melody_file(args.generated).harmonies;
  const bool corpus_h = encode::read_melody_file(args.corpus).harmonies;
  if (gen_h != corpus_h)
    throw melodl::cli::Error(std::string("cannot match ") + (gen_h ? "harmonies" : "melodies") +
                             " (" + args.generated + ") against " +
                             (corpus_h ? "harmonies" : "melodies") + " (" + args.corpus +
                             "): give two files of one kind");
  if (gen_h) return run_match_harmonies(args);
  const auto t0 = std::chrono::steady_clock::now();
  const Loaded gen = load(args.generated, args.format, "generated melodies");
  const Loaded corpus = load(args.corpus, args.format, "corpus");
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
  const auto style = eval::compare_style(eval::style_of(corpus.melodies), eval::style_of(gen.melodies));
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
            100.0 * c.score_fraction, a.score ? range(a.query_begin, a.query_end).c_str() : "-",
            a.score ? range(a.target_begin, a.target_end).c_str() : "-",
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
    nlohmann::json results = nlohmann::json::array();
    for (std::size_t i = 0; i < reports.size(); ++i) {
      const auto& r = reports[i];
      nlohmann::json cands = nlohmann::json::array();
      for (const auto& c : r.candidates) cands.push_back(alignment_json(c, corpus));
      nlohmann::json ov = nlohmann::json::array();
      for (const auto& o : r.novelty.overlap) {
        nlohmann::json e = {{"n", o.n}, {"total", o.total}, {"found", o.found}};
        e["fraction"] = o.total ? nlohmann::json(o.fraction()) : nlohmann::json(nullptr);
        ov.push_back(e);
      }
      const auto& lc = r.novelty.longest_copy;
      nlohmann::json copy = {{"notes", lc.length}};
      if (lc.length) {
        copy["generated_begin"] = lc.query_begin;
        copy["corpus_index"] = lc.corpus_index;
        copy["corpus_line"] = corpus.file.melodies[lc.corpus_index].line_number;
        copy["corpus_begin"] = lc.corpus_begin;
      }
      results.push_back({{"index", i},
                         {"line", gen.file.melodies[i].line_number},
                         {"notes", r.tokens},
                         {"skipped_symbols", gen.decoded[i].skipped},
                         {"candidates", cands},
                         {"longest_copy", copy},
                         {"ngram_overlap", ov}});
    }
    const auto& sc = opt.scoring;
    nlohmann::json j = {
        {"generated", args.generated},
        {"corpus", args.corpus},
        {"generated_format", gen.format},
        {"corpus_format", corpus.format},
        {"corpus_melodies", index.size()},
        {"corpus_notes", index.total_tokens()},
        {"positions", "0-based note indices, half-open [begin, end)"},
        {"scoring",
         {{"interval_same", sc.interval_same},
          {"interval_diff", sc.interval_diff},
          {"duration_same", sc.duration_same},
          {"duration_near", sc.duration_near},
          {"duration_diff", sc.duration_diff},
          {"rest_same", sc.rest_same},
          {"rest_diff", sc.rest_diff},
          {"gap_open", sc.gap_open},
          {"gap_extend", sc.gap_extend}}},
        {"style_overlap",
         {{"intervals", style.intervals}, {"durations", style.durations}, {"rests", style.rests}}},
        {"invalid_symbols",
         {{"skipped", invalid.skipped}, {"symbols", invalid.symbols}, {"rate", invalid.rate()}}},
        {"seconds", {{"index", index_s}, {"alignment", match_s}}},
        {"results", results}};
    melodl::write_file_atomic(args.json, j.dump(2) + "\n");
    if (!args.quiet) std::printf("report: %s\n", args.json.c_str());
  }

  if (!args.render_dir.empty()) {
    const fs::path dir(args.render_dir);
    melodl::ensure_directory(dir);
    for (std::size_t i = 0; i < reports.size(); ++i) {
      if (gen.melodies[i].steps.empty()) continue;
      render_pair(dir, i, gen, corpus, index, reports[i]);
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
  sub.add_option("--top", a->top, "Corpus candidates reported per generated melody")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
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
