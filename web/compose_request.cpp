// web/compose_request.cpp: see compose_request.h.
#include "web/compose_request.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "midi/reader.h"
#include "midi/writer.h"

namespace melodl::web {

namespace {

using nlohmann::json;

std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

std::string number_text(double v) {
  std::ostringstream ss;
  ss << v;
  return ss.str();
}

[[noreturn]] void refuse(const std::string& field, const std::string& what, int status = 400) {
  throw RequestError(status, field + ": " + what);
}

// j[key] when present into `out`, an integer in [lo, hi].
template <class T>
void integer(const json& j, const std::string& key, T& out, long long lo, long long hi,
             const std::string& name = {}) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  const std::string field = name.empty() ? key : name;
  const std::string range = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  if (!it->is_number_integer()) refuse(field, "must be " + range + ", got " + shown(*it));
  const bool huge = it->is_number_unsigned() &&
                    it->get<unsigned long long>() > static_cast<unsigned long long>(hi);
  const long long v = huge ? hi + 1 : it->get<long long>();
  if (v < lo || v > hi) refuse(field, "must be " + range + ", got " + shown(*it));
  out = static_cast<T>(v);
}

// j[key] when present into `out`, a number in [lo, hi] (gt_lo: lo itself excluded).
void number(const json& j, const std::string& key, double& out, double lo, double hi,
            const std::string& name = {}, bool gt_lo = false) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  const std::string field = name.empty() ? key : name;
  const std::string range = std::string("a number ") + (gt_lo ? "> " : ">= ") + number_text(lo) +
                            " and <= " + number_text(hi);
  if (!it->is_number()) refuse(field, "must be " + range + ", got " + shown(*it));
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi || (gt_lo && v == lo))
    refuse(field, "must be " + range + ", got " + shown(*it));
  out = v;
}

std::vector<PrimerNote> parse_primer(const json& p, const RequestLimits& limits) {
  if (!p.is_array())
    refuse("primer", "must be an array of {\"pitch\", \"start\", \"duration\"}, got " + shown(p));
  if (p.size() > static_cast<std::size_t>(limits.max_primer_notes))
    refuse("primer",
           std::to_string(p.size()) + " notes, at most " + std::to_string(limits.max_primer_notes),
           413);
  std::vector<PrimerNote> out;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const std::string at = "primer[" + std::to_string(i) + "]";
    const json& n = p[i];
    if (!n.is_object()) refuse(at, "must be an object {\"pitch\", \"start\", \"duration\"}");
    for (const auto& [k, v] : n.items())
      if (k != "pitch" && k != "start" && k != "duration") refuse(at + "." + k, "unknown field");
    for (const char* k : {"pitch", "start", "duration"})
      if (!n.contains(k)) refuse(at + "." + k, "missing");
    PrimerNote note;
    integer(n, "pitch", note.pitch, 0, 127, at + ".pitch");
    number(n, "start", note.start, 0.0, 1e6, at + ".start");
    number(n, "duration", note.duration, 0.0, limits.max_primer_s, at + ".duration", true);
    out.push_back(note);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const PrimerNote& a, const PrimerNote& b) { return a.start < b.start; });
  if (!out.empty() && out.back().start - out.front().start > limits.max_primer_s)
    refuse("primer",
           "spans " + number_text(out.back().start - out.front().start) + " s, at most " +
               number_text(limits.max_primer_s),
           413);
  return out;
}

}  // namespace

void RequestLimits::validate() const {
  if (max_length < 4) throw InvalidArgument("RequestLimits.max_length: must be >= 4");
  if (max_count < 1) throw InvalidArgument("RequestLimits.max_count: must be >= 1");
  if (max_primer_notes < 1) throw InvalidArgument("RequestLimits.max_primer_notes: must be >= 1");
  if (!(max_primer_s > 0)) throw InvalidArgument("RequestLimits.max_primer_s: must be > 0");
}

ComposeRequest parse_compose_request(const std::string& body, const RequestLimits& limits) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) refuse("body", "not valid JSON (expected an object like {\"model\": ...})");
  if (!j.is_object()) refuse("body", "must be a JSON object, got " + shown(j));
  static const std::set<std::string> known{"model",  "primer",        "temperature", "top_k",
                                           "length", "count",         "seed",        "program",
                                           "tempo",  "upper_program", "primer_midi", "style"};
  for (const auto& [k, v] : j.items())
    if (!known.contains(k)) refuse(k.substr(0, 40), "unknown field");
  ComposeRequest r;
  const auto model = j.find("model");
  if (model == j.end()) refuse("model", "missing (a name from GET /api/models)");
  if (!model->is_string() || model->get<std::string>().empty())
    refuse("model", "must be a model name (a string from GET /api/models), got " + shown(*model));
  r.model = model->get<std::string>();
  if (const auto p = j.find("primer"); p != j.end() && !p->is_null())
    r.primer = parse_primer(*p, limits);
  if (const auto m = j.find("primer_midi"); m != j.end() && !m->is_null()) {
    if (!r.primer.empty()) refuse("primer_midi", "give primer or primer_midi, not both");
    if (!m->is_string()) refuse("primer_midi", "must be a MIDI file in base64, got " + shown(*m));
    r.primer = primer_from_midi(m->get<std::string>(), limits);
  }
  double temperature = r.temperature;
  number(j, "temperature", temperature, 0.0, 5.0);
  r.temperature = temperature;
  integer(j, "top_k", r.top_k, 0, 1000);
  integer(j, "length", r.length, 4, limits.max_length);
  integer(j, "count", r.count, 1, limits.max_count);
  integer(j, "seed", r.seed, 0, (1LL << 53) - 1);
  integer(j, "program", r.program, 0, 127);
  integer(j, "upper_program", r.upper_program, 0, 127);
  number(j, "tempo", r.tempo, 20.0, 400.0);
  if (const auto s = j.find("style"); s != j.end() && !s->is_null()) {
    if (!s->is_string() || s->get<std::string>().empty() || s->get<std::string>().size() > 64)
      refuse("style", "must be a style name (a string from GET /api/models), got " + shown(*s));
    r.style = s->get<std::string>();
  }
  return r;
}

std::vector<PrimerNote> primer_from_midi(const std::string& base64, const RequestLimits& limits) {
  std::vector<std::uint8_t> bytes;
  unsigned acc = 0;
  int bits = 0;
  for (const char c : base64) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+') v = 62;
    if (c == '/') v = 63;
    if (c == '=' || c == '\n' || c == '\r') continue;
    if (v < 0) refuse("primer_midi", "not base64 (a character '" + std::string(1, c) + "')");
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  const auto song = midi::read_bytes(bytes, "primer_midi");
  if (!song) refuse("primer_midi", std::string("not a readable MIDI file: ") + song.error().what());
  const auto voices = encode::split_voices(*song);
  if (voices.empty()) refuse("primer_midi", "no notes (percussion only?)");
  std::vector<PrimerNote> out;
  for (const midi::Note& n : voices.back().notes) {
    if (out.size() >= static_cast<std::size_t>(limits.max_primer_notes) ||
        n.start_s - voices.back().notes.front().start_s > limits.max_primer_s)
      break;
    out.push_back({n.pitch, n.start_s, std::max(0.01, n.end_s - n.start_s)});
  }
  return out;
}

encode::SymbolMelody primer_melody(const std::vector<PrimerNote>& primer, double bpm) {
  encode::SymbolMelody m;
  const double unit = 60.0 / bpm / 8.0;
  const auto units = [unit](double s) {
    return static_cast<int>(std::clamp(std::lround(s / unit), 0L, 31L));
  };
  for (std::size_t i = 0; i < primer.size(); ++i) {
    const PrimerNote& n = primer[i];
    const double next = i + 1 < primer.size() ? primer[i + 1].start - n.start : n.duration;
    const double sounding = std::min(n.duration, next);
    encode::Step step;
    if (i > 0) {
      int d = n.pitch - primer[i - 1].pitch;
      while (d > encode::kMaxInterval) d -= 12;
      while (d < -encode::kMaxInterval) d += 12;
      step.interval = d;
    }
    step.duration = std::max(1, units(sounding));
    m.steps.push_back(step);
    if (const int rest = units(next - sounding); i + 1 < primer.size() && rest >= 1)
      m.steps.push_back({.rest = true, .interval = 0, .duration = rest});
  }
  return m;
}

std::vector<encode::HarmonySample> primer_voice(const std::vector<PrimerNote>& primer) {
  if (primer.empty()) return {};
  midi::Song song = midi::make_song(480, 120.0);  // 960 ticks a second
  std::vector<midi::Note> notes;
  const double t0 = primer.front().start;
  for (std::size_t i = 0; i < primer.size(); ++i) {
    const PrimerNote& p = primer[i];
    const double end = i + 1 < primer.size() ? std::min(p.start + p.duration, primer[i + 1].start)
                                             : p.start + p.duration;
    midi::Note n;
    n.pitch = static_cast<std::uint8_t>(p.pitch);
    n.velocity = 90;
    n.start_tick = std::llround((p.start - t0) * 960.0);
    n.end_tick = std::max<std::int64_t>(n.start_tick + 1, std::llround((end - t0) * 960.0));
    n.start_s = song.tick_to_seconds(n.start_tick);
    n.end_s = song.tick_to_seconds(n.end_tick);
    notes.push_back(n);
  }
  return encode::sample_voice(song, notes, encode::HarmonyOptions{});
}

}  // namespace melodl::web
