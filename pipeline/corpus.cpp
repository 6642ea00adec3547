// pipeline/corpus.cpp: melody / harmony lines -> canonical lines, vocabulary,
// split by source file, training windows. See corpus.h.
#include "pipeline/corpus.h"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "base/error.h"
#include "encode/grammar.h"
#include "lstm/rng.h"

namespace melodl::pipeline {

namespace {

constexpr std::string_view kHarmonyPrefix = "harmony:";
constexpr std::string_view kStylesSeparator = "\nstyles=";

std::string style_list_joined(const std::vector<std::string>& names, const char* sep) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : sep) + n;
  return s;
}

const std::vector<char>& alphabet(LineKind kind) {
  static const std::vector<char> melody = encode::native_codec().alphabet();
  static const std::vector<char> harmony = encode::native_harmony_codec().alphabet();
  return kind == LineKind::harmony ? harmony : melody;
}

int symbol_index(LineKind kind, char c) {
  return kind == LineKind::harmony ? encode::native_harmony::symbol_index(c)
                                   : encode::native::symbol_index(c);
}

}  // namespace

const char* to_string(LineKind kind) { return kind == LineKind::harmony ? "harmony" : "melody"; }

Vocabulary::Vocabulary(std::string chars, LineKind kind) : chars_(std::move(chars)), kind_(kind) {
  int last = -1;
  for (char c : chars_) {
    const int g = symbol_index(kind_, c);
    if (g < 0)
      throw InvalidArgument(std::string("vocabulary: '") + c + "' is not a native " +
                            to_string(kind_) + "-format symbol");
    if (g <= last)
      throw InvalidArgument("vocabulary \"" + chars_ + "\" is not in native " + to_string(kind_) +
                            " alphabet order (or repeats a symbol)");
    last = g;
  }
  if (chars_.size() < 3 || chars_[chars_.size() - 2] != '<' || chars_.back() != '>')
    throw InvalidArgument("vocabulary \"" + chars_ + "\" must end with '<' and '>'");
  index();
}

Vocabulary Vocabulary::parse(std::string_view stored) {
  const auto styles_at = stored.find(kStylesSeparator);
  if (styles_at != std::string_view::npos) {
    std::vector<std::string> names;
    std::string_view rest = stored.substr(styles_at + kStylesSeparator.size());
    for (std::size_t comma; (comma = rest.find(',')) != std::string_view::npos;
         rest.remove_prefix(comma + 1))
      names.emplace_back(rest.substr(0, comma));
    names.emplace_back(rest);
    return parse(stored.substr(0, styles_at)).with_styles(std::move(names));
  }
  if (stored.starts_with(kHarmonyPrefix))
    return Vocabulary(std::string(stored.substr(kHarmonyPrefix.size())), LineKind::harmony);
  return Vocabulary(std::string(stored), LineKind::melody);
}

std::string Vocabulary::stored() const {
  std::string s = kind_ == LineKind::harmony ? std::string(kHarmonyPrefix) + chars_ : chars_;
  if (!styles_.empty()) s += std::string(kStylesSeparator) + style_list_joined(styles_, ",");
  return s;
}

Vocabulary Vocabulary::with_styles(std::vector<std::string> names) const {
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& n = names[i];
    if (n.empty() || !std::all_of(n.begin(), n.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        }))
      throw InvalidArgument("style '" + n +
                            "': a style name is one or more of a-z, 0-9, '_' and '-'");
    if (std::find(names.begin(), names.begin() + static_cast<long>(i), n) !=
        names.begin() + static_cast<long>(i))
      throw InvalidArgument("style '" + n + "' is given twice");
  }
  Vocabulary v = *this;
  v.styles_ = std::move(names);
  return v;
}

int Vocabulary::style_id(std::string_view name) const {
  const auto it = std::find(styles_.begin(), styles_.end(), name);
  return it == styles_.end()
             ? -1
             : static_cast<int>(chars_.size()) + static_cast<int>(it - styles_.begin());
}

void Vocabulary::check_style(std::string_view style) const {
  if (!styles_.empty() && style.empty())
    throw InvalidArgument("the model is conditioned on styles (" + style_list() +
                          "): choose one (--style NAME)");
  (void)ids("<", style);  // throws for a style the vocabulary lacks
}

std::string Vocabulary::style_list() const { return style_list_joined(styles_, ", "); }

void Vocabulary::index() {
  std::fill(std::begin(id_), std::end(id_), -1);
  std::fill(std::begin(from_grammar_), std::end(from_grammar_), -1);
  for (std::size_t i = 0; i < chars_.size(); ++i) {
    id_[static_cast<unsigned char>(chars_[i])] = static_cast<int>(i);
    from_grammar_[symbol_index(kind_, chars_[i])] = static_cast<int>(i);
  }
}

Vocabulary Vocabulary::from_melodies(const std::vector<CorpusMelody>& melodies) {
  const LineKind kind = melodies.empty() ? LineKind::melody : melodies.front().kind;
  bool seen[256] = {};
  for (const auto& m : melodies) {
    if (m.kind != kind)
      throw InvalidArgument("the lines mix melodies and harmonies (" + m.source + ")");
    for (char c : m.text) seen[static_cast<unsigned char>(c)] = true;
  }
  seen[static_cast<unsigned char>('<')] = seen[static_cast<unsigned char>('>')] = true;
  std::string chars;
  for (char c : alphabet(kind))
    if (seen[static_cast<unsigned char>(c)]) chars.push_back(c);
  return Vocabulary(chars, kind);
}

Vocabulary Vocabulary::full(LineKind kind) {
  const auto& a = alphabet(kind);
  return Vocabulary(std::string(a.begin(), a.end()), kind);
}

int Vocabulary::grammar_index(int id) const {
  return is_style(id) ? -1 : symbol_index(kind_, symbol(id));
}

std::vector<std::int32_t> Vocabulary::ids(std::string_view line) const {
  std::vector<std::int32_t> out;
  out.reserve(line.size());
  for (std::size_t i = 0; i < line.size(); ++i) {
    const int k = id(line[i]);
    if (k < 0)
      throw InvalidArgument(std::string("symbol '") + line[i] + "' at position " +
                            std::to_string(i) + " is not in the vocabulary \"" + chars_ + "\"");
    out.push_back(k);
  }
  return out;
}

std::vector<std::int32_t> Vocabulary::ids(std::string_view line, std::string_view style) const {
  std::vector<std::int32_t> out = ids(line);  // "<" is in every vocabulary
  if (style.empty()) return out;
  const int sid = style_id(style);
  if (sid < 0)
    throw InvalidArgument("style '" + std::string(style) + "': " +
                          (styles_.empty() ? std::string("the model has no styles")
                                           : "the model's styles are " + style_list()));
  if (out.empty() || out.front() != start_id())
    throw InvalidArgument("a styled line must start with '<'");
  out.insert(out.begin() + 1, sid);
  return out;
}

std::string Vocabulary::text(const std::vector<std::int32_t>& ids) const {
  std::string s;
  s.reserve(ids.size());
  for (auto k : ids) s.push_back(symbol(k));
  return s;
}

bool Vocabulary::covers(const CorpusMelody& m) const {
  return std::all_of(m.text.begin(), m.text.end(), [&](char c) { return id(c) >= 0; });
}

Corpus Corpus::from_entries(const std::vector<CorpusEntry>& entries) {
  Corpus c;
  if (!entries.empty()) c.kind_ = entries.front().kind;
  const auto& codec = encode::native_codec();
  const auto& hcodec = encode::native_harmony_codec();
  std::set<std::string> sources;
  for (const auto& e : entries) {
    if (e.kind != c.kind_)
      throw InvalidArgument("the corpus mixes melodies and harmonies (" + e.source + ")");
    ++c.stats_.lines;
    CorpusMelody m;
    m.kind = e.kind;
    if (e.kind == LineKind::harmony) {
      encode::HarmonyDecodeResult d = hcodec.decode(e.text);
      if (d.harmony.steps() == 0) {
        ++c.stats_.dropped;
        continue;
      }
      if (d.skipped > 0 || d.substituted > 0) ++c.stats_.repaired;
      m.text = hcodec.encode(d.harmony);
      for (const auto* voice : {&d.harmony.lower, &d.harmony.upper})
        m.notes += static_cast<std::size_t>(
            std::count_if(voice->begin(), voice->end(), [](const auto& s) { return s.onset; }));
      m.harmony = std::move(d.harmony);
    } else {
      const encode::DecodeResult d = codec.decode(e.text);
      if (d.melody.steps.empty()) {
        ++c.stats_.dropped;
        continue;
      }
      if (d.skipped > 0) ++c.stats_.repaired;
      m.text = codec.encode(d.melody);
      m.melody = d.melody;
      m.notes = static_cast<std::size_t>(std::count_if(d.melody.steps.begin(), d.melody.steps.end(),
                                                       [](const auto& s) { return !s.rest; }));
    }
    m.source = e.source.empty() ? "(unknown)" : e.source;
    m.program = e.program;
    m.start_pitch = e.start_pitch;
    c.stats_.symbols += m.text.size();
    c.stats_.notes += m.notes;
    sources.insert(m.source);
    c.melodies_.push_back(std::move(m));
  }
  c.stats_.melodies = c.melodies_.size();
  c.stats_.sources = sources.size();
  return c;
}

std::vector<std::string> Corpus::sources() const {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& m : melodies_)
    if (seen.insert(m.source).second) out.push_back(m.source);
  return out;
}

Split Corpus::split_by_source(double fraction, std::uint64_t seed) const {
  if (!(fraction >= 0.0 && fraction < 1.0))
    throw InvalidArgument("validation fraction must be in [0, 1), got " + std::to_string(fraction));
  std::vector<std::string> names = sources();
  std::sort(names.begin(), names.end());
  const std::size_t n = names.size();
  std::size_t k = static_cast<std::size_t>(fraction * static_cast<double>(n) + 0.5);
  if (fraction > 0 && n >= 2) k = std::clamp<std::size_t>(k, 1, n - 1);
  if (n < 2) k = 0;
  lstm::Rng rng(seed);
  for (std::size_t i = n; i > 1; --i) std::swap(names[i - 1], names[rng.below(i)]);
  const std::set<std::string> valid(names.begin(), names.begin() + static_cast<long>(k));
  Split s;
  for (const auto& m : melodies_) (valid.count(m.source) ? s.valid : s.train).push_back(m);
  s.valid_sources.assign(valid.begin(), valid.end());
  return s;
}

std::uint64_t Corpus::hash(const std::vector<CorpusMelody>& melodies) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  for (const auto& m : melodies) {
    if (m.kind == LineKind::harmony) mix("harmony");  // melody hashes stay as they were
    mix(m.source);
    mix(m.text);
    if (!m.style.empty()) mix("style:" + m.style);  // unstyled hashes stay as they were
  }
  return h;
}

std::vector<Window> make_windows(const std::vector<CorpusMelody>& melodies, const Vocabulary& vocab,
                                 int window) {
  if (window < 2) throw InvalidArgument("window must be >= 2, got " + std::to_string(window));
  const std::size_t cap = static_cast<std::size_t>(window) + 1;
  std::vector<Window> out;
  Window cur;
  auto flush = [&] {
    if (cur.symbols.size() >= 2) out.push_back(std::move(cur));
    cur = Window{};
  };
  for (const auto& m : melodies) {
    const std::vector<std::int32_t> ids = vocab.ids(m.text, m.style);
    if (!cur.symbols.empty() && cur.symbols.size() + ids.size() > cap) flush();
    if (ids.size() <= cap) {
      cur.symbols.insert(cur.symbols.end(), ids.begin(), ids.end());
      continue;
    }
    // A long melody: consecutive windows overlapping by one symbol (the last input of
    // one window is the first input of the next, so every symbol is predicted once).
    flush();
    for (std::size_t pos = 0; pos + 1 < ids.size(); pos += cap - 1) {
      Window w;
      w.starts_melody = pos == 0;
      const std::size_t end = std::min(ids.size(), pos + cap);
      w.symbols.assign(ids.begin() + static_cast<long>(pos), ids.begin() + static_cast<long>(end));
      out.push_back(std::move(w));
    }
  }
  flush();
  return out;
}

std::vector<std::vector<int>> ngram_sequences(const std::vector<CorpusMelody>& melodies,
                                              const Vocabulary& vocab) {
  std::vector<std::vector<int>> out;
  out.reserve(melodies.size());
  for (const auto& m : melodies) {
    const auto ids = vocab.ids(m.text);
    out.emplace_back(ids.begin() + 1, ids.end() - 1);
  }
  return out;
}

}  // namespace melodl::pipeline
