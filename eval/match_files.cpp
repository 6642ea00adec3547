// eval/match_files.cpp: see match_files.h.
#include "eval/match_files.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "base/error.h"
#include "encode/melody_song.h"
#include "midi/writer.h"

namespace melodl::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Pitch of the k-th note when the melody is played from start_pitch.
int pitch_of_note(const encode::SymbolMelody& m, std::size_t k, int start_pitch) {
  encode::RenderOptions r;
  r.start_pitch = start_pitch;
  const auto notes = encode::to_notes(m, r);
  return k < notes.size() ? notes[k].pitch : start_pitch;
}

json novelty_json(const Novelty& n) {
  nlohmann::json ov = nlohmann::json::object();
  for (const auto& o : n.overlap)
    ov[std::to_string(o.n)] = o.total ? nlohmann::json(o.fraction()) : nlohmann::json(nullptr);
  return {{"longest_copy", n.longest_copy.length},
          {"longest_copy_corpus_index", n.longest_copy.corpus_index},
          {"ngram_overlap", ov}};
}

}  // namespace

std::string note_range(std::size_t begin, std::size_t end) {
  return std::to_string(begin + 1) + "-" + std::to_string(end);  // 1-based, inclusive
}

MelodySet load_melody_set(const std::string& path, const std::string& format_flag,
                          const char* what) {
  if (!fs::exists(path)) throw IoError(std::string(what) + " file " + path + " does not exist");
  return load_melody_set(encode::read_melody_file(path), path, format_flag, what);
}

MelodySet load_melody_set(encode::MelodyFile file, const std::string& path,
                          const std::string& format_flag, const char* what) {
  MelodySet l;
  l.path = path;
  l.file = std::move(file);
  if (l.file.melodies.empty())
    throw FormatError(std::string(what) + " file " + path +
                      " holds no melodies (one codec string per line; `//` lines are "
                      "comments)");
  l.format = format_flag;
  if (l.format == "auto") {
    l.format = l.file.format.empty() ? "native" : l.file.format;
  } else if (!l.file.format.empty() && l.file.format != l.format) {
    l.warning =
        path + " says format=" + l.file.format + "; decoding as " + l.format + " (--format)";
  }
  const encode::Codec* codec = nullptr;
  try {
    codec = &encode::codec_by_name(l.format);
  } catch (const std::exception&) {
    throw FormatError(path + ": unknown melody format '" + l.format +
                      "' (expected native or melodl4j-v1; use --format)");
  }
  for (const auto& rec : l.file.melodies) {
    encode::DecodeResult d = codec->decode(rec.text);
    l.lengths.push_back(rec.text.size());
    l.melodies.push_back(std::move(d.melody));  // one copy of the steps, not two
    d.melody = {};
    l.decoded.push_back(std::move(d));
  }
  return l;
}

HarmonySet load_harmony_set(const std::string& path, const char* what) {
  return load_harmony_set(encode::read_melody_file(path), path, what);
}

HarmonySet load_harmony_set(encode::MelodyFile file, const std::string& path, const char* what) {
  HarmonySet l;
  l.file = std::move(file);
  if (l.file.melodies.empty())
    throw FormatError(std::string(what) + " file " + path + " holds no harmonies");
  const encode::HarmonyCodec* codec = nullptr;
  try {
    codec = &encode::harmony_codec_by_name(l.file.format.empty() ? "native" : l.file.format);
  } catch (const std::exception&) {
    throw FormatError(path + ": unknown harmony format '" + l.file.format + "'");
  }
  for (const auto& rec : l.file.melodies) {
    auto d = codec->decode(rec.text);
    l.skipped += d.skipped + d.substituted;
    l.symbols += rec.text.size();
    l.harmonies.push_back(std::move(d.harmony));
  }
  return l;
}

json alignment_json(const MatchCandidate& c, const MelodySet& corpus) {
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

void render_match(const fs::path& dir, std::size_t index, const MelodySet& gen,
                  const MelodySet& corpus, const CorpusIndex& corpus_index,
                  const MatchReport& report) {
  const auto& g = gen.melodies[index];
  const auto& meta = gen.file.melodies[index].meta;
  char stem[32];
  std::snprintf(stem, sizeof stem, "sample-%04zu", index + 1);
  encode::MelodySongOptions o;
  o.start_pitch = meta.start_pitch >= 0 ? meta.start_pitch : 60;
  if (meta.program >= 0) o.program = meta.program;
  o.name = "generated " + std::to_string(index + 1);
  midi::write_file(dir / (std::string(stem) + ".mid"), encode::melody_to_song(g, o));
  if (report.candidates.empty() || report.candidates[0].alignment.score == 0) return;
  const MatchCandidate& best = report.candidates[0];
  const Alignment& a = best.alignment;
  // Both excerpts start at the pitch the generated excerpt has in the whole melody
  // (interval tokens are transposition-invariant).
  const TokenizedMelody gt = tokenize(g);
  const auto gen_part = excerpt(g, gt, a.query_begin, a.query_end);
  const auto& cm = corpus.melodies[best.corpus_index];
  const auto corpus_part =
      excerpt(cm, corpus_index.melody(best.corpus_index), a.target_begin, a.target_end);
  encode::MelodySongOptions po = o;
  po.start_pitch = pitch_of_note(g, a.query_begin, o.start_pitch);
  po.name = "corpus melody " + std::to_string(best.corpus_index + 1) + " notes " +
            note_range(a.target_begin, a.target_end);
  const auto match_song = encode::melody_to_song(corpus_part, po);
  midi::write_file(dir / (std::string(stem) + "-match.mid"), match_song);
  // The pair: generated excerpt, two beats of silence, the corpus excerpt (channel 2).
  po.name =
      "generated " + std::to_string(index + 1) + " notes " + note_range(a.query_begin, a.query_end);
  midi::Song pair = encode::melody_to_song(gen_part, po);
  midi::Track second = match_song.tracks.at(0);
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
  midi::write_file(dir / (std::string(stem) + "-pair.mid"), pair);
}

json melody_match_report(const std::string& generated, const std::string& corpus_path,
                         const MelodySet& gen, const MelodySet& corpus, const CorpusIndex& index,
                         const std::vector<MatchReport>& reports, const AlignmentScoring& scoring,
                         const StyleOverlap& style, const InvalidRate& invalid, double index_s,
                         double match_s) {
  json results = json::array();
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const auto& r = reports[i];
    json cands = json::array();
    for (const auto& c : r.candidates) cands.push_back(alignment_json(c, corpus));
    json ov = json::array();
    for (const auto& o : r.novelty.overlap) {
      json e = {{"n", o.n}, {"total", o.total}, {"found", o.found}};
      e["fraction"] = o.total ? json(o.fraction()) : json(nullptr);
      ov.push_back(e);
    }
    const auto& lc = r.novelty.longest_copy;
    json copy = {{"notes", lc.length}};
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
  const auto& sc = scoring;
  json j = {
      {"generated", generated},
      {"corpus", corpus_path},
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
  return j;
}

json harmony_match_report(const std::string& generated, const std::string& corpus_path,
                          const HarmonySet& gen, const HarmonyCorpusIndex& index,
                          const std::vector<HarmonyNovelty>& nov,
                          const std::vector<MatchReport>& low_reports,
                          const std::vector<MatchReport>& up_reports, double index_s,
                          double match_s) {
  json results = json::array();
  for (std::size_t i = 0; i < nov.size(); ++i) {
    json lc = json::array(), uc = json::array();
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
  json j = {{"generated", generated},
            {"corpus", corpus_path},
            {"kind", "harmony"},
            {"corpus_harmonies", index.size()},
            {"corpus_steps", index.joint().total_tokens()},
            {"invalid_symbols", {{"skipped", gen.skipped}, {"symbols", gen.symbols}}},
            {"seconds", {{"index", index_s}, {"matching", match_s}}},
            {"results", results}};
  return j;
}

}  // namespace melodl::eval
