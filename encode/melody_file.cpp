// encode/melody_file.cpp: see melody_file.h.
#include "encode/melody_file.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <string>

#include "base/files.h"

namespace melodl::encode {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool parse_int(std::string_view s, int& out) {
  s = trim(s);
  int v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  out = v;
  return true;
}

bool parse_double(std::string_view s, double& out) {
  s = trim(s);
  if (s.empty()) return false;
  // std::from_chars for double is in libstdc++ 11+, but strtod is locale-bound; the
  // numbers we write use '.', and melodl never changes the C locale.
  std::string tmp(s);
  char* end = nullptr;
  const double v = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size()) return false;
  out = v;
  return true;
}

std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Value of "key = value" or "key=value" in a MELODL4J comment (comma-separated).
bool melodl4j_field(std::string_view body, std::string_view key, int& out) {
  std::size_t pos = 0;
  while ((pos = body.find(key, pos)) != std::string_view::npos) {
    std::size_t p = pos + key.size();
    while (p < body.size() && body[p] == ' ') ++p;
    if (p < body.size() && body[p] == '=') {
      std::size_t end = body.find(',', p + 1);
      if (end == std::string_view::npos) end = body.size();
      return parse_int(body.substr(p + 1, end - p - 1), out);
    }
    pos = p;
  }
  return false;
}

}  // namespace

std::string melodies_header(std::string_view format) {
  return std::string(kMelodiesHeaderPrefix) + std::string(format) + " version=1";
}

std::string provenance_comment(const encode::ExtractedMelody& m, std::string_view source) {
  std::string s = "// track=" + std::to_string(m.track) + " channel=" + std::to_string(m.channel) +
                  " program=" + std::to_string(m.program) +
                  " voice=" + (m.voice == encode::Voice::top ? "top" : "bottom") +
                  " start_pitch=" + std::to_string(m.start_pitch) +
                  " unit_ticks=" + format_double(m.unit_ticks) +
                  " unit_s=" + format_double(m.unit_seconds) + " source=";
  s.append(source);
  return s;
}

MelodyMeta parse_provenance(std::string_view comment) {
  MelodyMeta meta;
  std::string_view body = comment;
  if (body.starts_with("//")) body.remove_prefix(2);
  body = trim(body);
  // MELODL4J style: "Track = trackIndex, Channel = 0, Instrument = 0, StartNote = 62".
  if (body.find(" = ") != std::string_view::npos) {
    melodl4j_field(body, "Channel", meta.channel);
    melodl4j_field(body, "Instrument", meta.program);
    melodl4j_field(body, "StartNote", meta.start_pitch);
    melodl4j_field(body, "Track", meta.track);
    return meta;
  }
  // Ours: space-separated key=value; source= takes the rest of the line.
  while (!body.empty()) {
    const std::size_t eq = body.find('=');
    if (eq == std::string_view::npos) break;
    const std::string_view key = trim(body.substr(0, eq));
    std::string_view rest = body.substr(eq + 1);
    if (key == "source") {
      meta.source = std::string(trim(rest));
      break;
    }
    const std::size_t sp = rest.find(' ');
    const std::string_view value = rest.substr(0, sp);
    if (key == "track")
      parse_int(value, meta.track);
    else if (key == "channel")
      parse_int(value, meta.channel);
    else if (key == "program")
      parse_int(value, meta.program);
    else if (key == "voice")
      meta.voice = std::string(value);
    else if (key == "start_pitch")
      parse_int(value, meta.start_pitch);
    else if (key == "unit_ticks")
      parse_double(value, meta.unit_ticks);
    else if (key == "unit_s")
      parse_double(value, meta.unit_s);
    if (sp == std::string_view::npos) break;
    body = trim(rest.substr(sp + 1));
  }
  return meta;
}

MelodyFile parse_melody_file(std::string_view text) {
  MelodyFile file;
  MelodyMeta pending;
  bool have_pending = false;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string_view t = trim(line);
    if (t.empty()) continue;
    if (t.starts_with("//")) {
      if (t.starts_with(kMelodiesHeaderPrefix) || t.starts_with(kHarmoniesHeaderPrefix)) {
        file.harmonies = t.starts_with(kHarmoniesHeaderPrefix);
        std::string_view f =
            t.substr(file.harmonies ? kHarmoniesHeaderPrefix.size() : kMelodiesHeaderPrefix.size());
        file.format = std::string(f.substr(0, f.find(' ')));
        continue;
      }
      MelodyMeta m = parse_provenance(t);
      if (m.start_pitch >= 0 || m.program >= 0 || !m.source.empty()) {
        pending = std::move(m);
        have_pending = true;
      }
      continue;
    }
    MelodyRecord rec;
    if (have_pending) rec.meta = std::move(pending);
    pending = MelodyMeta{};
    have_pending = false;
    // Codec strings may contain spaces (MELODL4J's rest symbol): keep the line as is,
    // less the line ending.
    rec.text = std::string(line);
    rec.line_number = line_number;
    file.melodies.push_back(std::move(rec));
  }
  return file;
}

MelodyFile read_melody_file(const std::filesystem::path& path) {
  return parse_melody_file(read_text_file(path));
}

}  // namespace melodl::encode
