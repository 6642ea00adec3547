// encode/melody_file.cpp: see melody_file.h.
#include "encode/melody_file.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <string>
#include <utility>

#include "base/error.h"
#include "base/files.h"
#include "encode/codec.h"

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

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 when it is not one
// (overlong forms, surrogates and code points above U+10FFFF are not well formed).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size() || b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return len;
}

// Offset of the first byte that is not well-formed UTF-8; npos when the text is.
std::size_t invalid_utf8_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence(s, i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::size_t line_of(std::string_view text, std::size_t offset) {
  std::size_t line = 1;
  for (std::size_t i = 0; i < offset; ++i) line += text[i] == '\n';
  return line;
}

[[noreturn]] void not_melodies(std::string_view name, const std::string& why) {
  throw FormatError(std::string(name) + ": not a melodies file: " + why);
}

// Why `line` is not a melody under `codec` (docs/formats.md section 7); empty when it is.
std::string line_fault(const Codec& codec, std::string_view line) {
  const DecodeResult d = codec.decode(line);
  const std::size_t bad = d.skipped + d.substituted;
  if (d.melody.steps.empty()) return std::string(codec.name()) + ": no note decodes";
  if (bad * kMaxInvalidPerLine.denominator > line.size() * kMaxInvalidPerLine.numerator)
    return std::string(codec.name()) + ": decoding skips or substitutes " + std::to_string(bad) +
           " symbols in " + std::to_string(line.size()) + " characters";
  return {};
}

// A file without a format line must be melodies in one of the melody codecs
// (docs/formats.md section 7): at most 1 line in kMaxInvalidLinesPer is not one.
void check_headerless(const MelodyFile& file, std::string_view name) {
  const std::size_t lines = file.melodies.size();
  const std::size_t allowed = lines / kMaxInvalidLinesPer;
  const Codec* codecs[] = {&native_codec(), &melodl4j_v1_codec()};
  std::size_t best_bad = lines + 1, best_first = 0;
  for (const Codec* c : codecs) {
    std::size_t bad = 0, first = 0;
    for (std::size_t k = 0; k < lines && bad <= best_bad; ++k) {
      if (line_fault(*c, file.melodies[k].text).empty()) continue;
      if (bad++ == 0) first = k;
    }
    if (bad <= allowed) return;
    if (bad < best_bad) best_bad = bad, best_first = first;
  }
  const MelodyRecord& rec = file.melodies[best_first];
  std::string why = "it has no '" + std::string(kMelodiesHeaderPrefix) + "' line, and line " +
                    std::to_string(rec.line_number) + " is not a melody (";
  for (const Codec* c : codecs) {
    const std::string f = line_fault(*c, rec.text);
    why += (c == codecs[0] ? "" : "; ") + (f.empty() ? std::string(c->name()) + ": decodes" : f);
  }
  why += "); without the format line at most 1 line in " + std::to_string(kMaxInvalidLinesPer) +
         " may fail to decode, and " + std::to_string(best_bad) + " of " + std::to_string(lines) +
         " do";
  not_melodies(name, why);
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

MelodyFile parse_melody_file(std::string_view text, std::string_view name) {
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos)
    not_melodies(name, "binary content (a NUL byte on line " + std::to_string(line_of(text, nul)) +
                           ", byte offset " + std::to_string(nul) + ")");
  const std::size_t bom = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // a UTF-8 byte order mark
  text.remove_prefix(bom);
  const std::string_view whole = text;
  MelodyFile file;
  MelodyMeta pending;
  bool have_pending = false;
  bool first_content = true;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string_view t = trim(line);
    if (t.empty()) continue;
    // The format line counts only as the first non-blank line (where melodl writes it),
    // so a text that merely quotes one (docs/formats.md) is not taken for melodies.
    const bool first_line = std::exchange(first_content, false);
    if (t.starts_with("//")) {
      if (first_line &&
          (t.starts_with(kMelodiesHeaderPrefix) || t.starts_with(kHarmoniesHeaderPrefix))) {
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
    if (const std::size_t bad = invalid_utf8_at(line); bad != std::string_view::npos)
      not_melodies(name, "binary content (invalid UTF-8 on line " + std::to_string(line_number) +
                             ", byte offset " +
                             std::to_string(
                                 bom + static_cast<std::size_t>(line.data() - whole.data()) + bad) +
                             ")");
    if (line.size() > kMaxLineSymbols)
      throw FormatError(std::string(name) + ":" + std::to_string(line_number) + ": a line of " +
                        std::to_string(line.size()) + " symbols; melodies files hold lines of " +
                        "at most " + std::to_string(kMaxLineSymbols) +
                        " symbols (split it into several lines)");
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
  if (file.format.empty()) check_headerless(file, name);
  return file;
}

MelodyFile read_melody_file(const std::filesystem::path& path) {
  return parse_melody_file(read_text_file(path), path.string());
}

}  // namespace melodl::encode
