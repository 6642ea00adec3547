// encode/harmony_codec.cpp: the symbols of two-part harmonies: the native and
// original-harmony string codecs, the native harmony grammar for constrained sampling,
// the native symbols of one voice, and the "accompany" grammar (upper voice fixed).
// Spec: docs/formats.md "Two-part harmonies"; declarations in encode/harmony.h.
// Tests: tests/encode/harmony_test.cpp.
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "encode/harmony.h"

namespace melodl::encode {

// ---------------------------------------------------------------------------
// Codecs

namespace native_harmony {
char symbol_char(int symbol) {
  if (symbol < 0 || symbol >= kAlphabetSize)
    throw InvalidArgument("native harmony symbol " + std::to_string(symbol) + " outside 0.." +
                          std::to_string(kAlphabetSize - 1));
  if (symbol < 26) return static_cast<char>('A' + symbol);
  if (symbol < kHarmonyPitches) return static_cast<char>('a' + symbol - 26);
  switch (symbol) {
    case kHold:
      return '-';
    case kRest:
      return '.';
    case kStart:
      return '<';
    default:
      return '>';
  }
}
int symbol_index(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'w') return 26 + (c - 'a');
  switch (c) {
    case '-':
      return kHold;
    case '.':
      return kRest;
    case '<':
      return kStart;
    case '>':
      return kEnd;
    default:
      return -1;
  }
}
}  // namespace native_harmony

namespace {

void check_encodable(const SymbolHarmony& h) {
  if (h.lower.size() != h.upper.size())
    throw InvalidArgument("harmony encode: voices differ in length (" +
                          std::to_string(h.lower.size()) + " vs " + std::to_string(h.upper.size()) +
                          " steps)");
  if (h.lower.empty()) throw InvalidArgument("harmony encode: empty harmony");
}

class NativeHarmonyCodec final : public HarmonyCodec {
 public:
  std::string_view name() const override { return "native"; }
  std::string encode(const SymbolHarmony& harmony) const override {
    check_encodable(harmony);
    const SymbolHarmony h = normalize(harmony);
    std::string line;
    line.reserve(2 * h.steps() + 2);
    line += '<';
    const auto sym = [](const HarmonySample& s) {
      using namespace native_harmony;
      if (s.rest()) return symbol_char(kRest);
      return symbol_char(s.onset ? onset_symbol(s.pitch) : kHold);
    };
    for (std::size_t k = 0; k < h.steps(); ++k) {
      line += sym(h.lower[k]);
      line += sym(h.upper[k]);
    }
    line += '>';
    return line;
  }
  HarmonyDecodeResult decode(std::string_view line) const override {
    using namespace native_harmony;
    HarmonyDecodeResult r;
    std::array<std::vector<HarmonySample>*, 2> voices{&r.harmony.lower, &r.harmony.upper};
    std::array<int, 2> pitch{-1, -1};
    std::size_t pos = 0;
    bool started = false;
    std::size_t i = 0;
    for (; i < line.size(); ++i) {
      const int s = symbol_index(line[i]);
      if (s < 0) {
        ++r.skipped;
        continue;
      }
      if (s == kStart) {
        if (started || pos > 0) ++r.skipped;
        started = true;
        continue;
      }
      if (s == kEnd) break;
      started = true;
      const std::size_t v = pos % 2;
      HarmonySample smp;
      if (is_onset(s)) {
        smp = HarmonySample{pitch_of(s), true};
      } else if (s == kHold) {
        if (pitch[v] >= 0) {
          smp = HarmonySample{pitch[v], false};
        } else {
          ++r.substituted;  // nothing to hold: a rest keeps the parity
        }
      }
      pitch[v] = smp.pitch;
      voices[v]->push_back(smp);
      ++pos;
    }
    if (i < line.size()) r.skipped += line.size() - i - 1;  // after '>'
    if (pos % 2 == 1) {  // an unfinished pair: its lower symbol is dropped
      r.harmony.lower.pop_back();
      ++r.skipped;
    }
    return r;
  }
  std::vector<char> alphabet() const override {
    std::vector<char> a;
    for (int s = 0; s < native_harmony::kAlphabetSize; ++s)
      a.push_back(native_harmony::symbol_char(s));
    return a;
  }
};

class OriginalHarmonyCodec final : public HarmonyCodec {
 public:
  std::string_view name() const override { return "original-harmony"; }
  std::string encode(const SymbolHarmony& harmony) const override {
    check_encodable(harmony);
    const SymbolHarmony h = normalize(harmony);
    std::string line;
    line.reserve(2 * h.steps());
    const auto ch = [](const HarmonySample& s) {
      return s.rest() ? ' ' : static_cast<char>('A' + s.pitch - kHarmonyLowest);
    };
    for (std::size_t k = 0; k < h.steps(); ++k) {
      line += ch(h.lower[k]);
      line += ch(h.upper[k]);
    }
    return line;
  }
  HarmonyDecodeResult decode(std::string_view line) const override {
    HarmonyDecodeResult r;
    std::array<std::vector<HarmonySample>*, 2> voices{&r.harmony.lower, &r.harmony.upper};
    std::size_t pos = 0;
    for (const char c : line) {
      HarmonySample s;
      if (c == ' ') {
      } else if (c >= 'A' && c < 'A' + kHarmonyPitches) {
        s.pitch = kHarmonyLowest + (c - 'A');  // onset decided by normalize()
      } else {
        ++r.skipped;
        continue;
      }
      voices[pos % 2]->push_back(s);
      ++pos;
    }
    if (pos % 2 == 1) {
      r.harmony.lower.pop_back();
      ++r.skipped;
    }
    r.harmony = normalize(std::move(r.harmony));
    return r;
  }
  std::vector<char> alphabet() const override {
    std::vector<char> a{' '};
    for (int k = 0; k < kHarmonyPitches; ++k) a.push_back(static_cast<char>('A' + k));
    return a;
  }
};

}  // namespace

const HarmonyCodec& native_harmony_codec() {
  static const NativeHarmonyCodec codec;
  return codec;
}
const HarmonyCodec& original_harmony_codec() {
  static const OriginalHarmonyCodec codec;
  return codec;
}
const HarmonyCodec& harmony_codec_by_name(std::string_view name) {
  if (name == "native") return native_harmony_codec();
  if (name == "original-harmony") return original_harmony_codec();
  throw InvalidArgument("unknown harmony format '" + std::string(name) +
                        "' (expected native or original-harmony)");
}

// ---------------------------------------------------------------------------
// Grammar

bool HarmonyGrammar::allows(int symbol) const {
  using namespace native_harmony;
  if (done_ || symbol < 0 || symbol >= kAlphabetSize) return false;
  if (!started_) return symbol == kStart;
  if (symbol == kStart) return false;
  if (symbol == kEnd) return position_ > 0 && position_ % 2 == 0;
  if (symbol == kHold) return sounding_[position_ % 2];
  return true;  // an onset or a rest
}

std::vector<bool> HarmonyGrammar::allowed() const {
  std::vector<bool> m;
  allowed(m);
  return m;
}

void HarmonyGrammar::allowed(std::vector<bool>& mask) const {
  mask.resize(native_harmony::kAlphabetSize);
  for (int s = 0; s < native_harmony::kAlphabetSize; ++s)
    mask[static_cast<std::size_t>(s)] = allows(s);
}

void HarmonyGrammar::advance(int symbol) {
  using namespace native_harmony;
  if (!allows(symbol))
    throw InvalidArgument("harmony grammar: symbol " + std::to_string(symbol) +
                          " not allowed at position " + std::to_string(position_));
  if (symbol == kStart) {
    started_ = true;
  } else if (symbol == kEnd) {
    done_ = true;
  } else {
    sounding_[position_ % 2] = symbol != kRest;
    ++position_;
  }
}

int HarmonyGrammar::symbols_to_complete() const {
  if (done_) return 0;
  if (!started_) return 4;  // '<', a pair, '>'
  if (position_ % 2 == 1) return 2;
  return position_ == 0 ? 3 : 1;
}

std::vector<int> native_voice_symbols(const std::vector<HarmonySample>& voice) {
  SymbolHarmony h;
  h.upper = voice;
  h.lower.resize(voice.size());
  h = normalize(std::move(h));
  std::vector<int> out;
  out.reserve(voice.size());
  for (const HarmonySample& s : h.upper) {
    if (s.rest())
      out.push_back(native_harmony::kRest);
    else
      out.push_back(s.onset ? native_harmony::onset_symbol(s.pitch) : native_harmony::kHold);
  }
  return out;
}

AccompanyGrammar::AccompanyGrammar(const std::vector<HarmonySample>& upper)
    : upper_(native_voice_symbols(upper)) {
  if (upper_.empty()) throw InvalidArgument("accompany: the upper voice is empty");
}

int AccompanyGrammar::forced() const {
  if (!grammar_.started() || grammar_.complete()) return -1;
  const std::size_t pos = grammar_.position();
  if (pos >= 2 * upper_.size()) return native_harmony::kEnd;
  return pos % 2 == 1 ? upper_[pos / 2] : -1;
}

bool AccompanyGrammar::allows(int symbol) const {
  if (!grammar_.allows(symbol)) return false;
  if (!grammar_.started()) return true;  // '<'
  const int f = forced();
  if (f >= 0) return symbol == f;
  return symbol != native_harmony::kEnd;  // a lower step while upper steps remain
}

void AccompanyGrammar::allowed(std::vector<bool>& mask) const {
  mask.resize(native_harmony::kAlphabetSize);
  for (int s = 0; s < native_harmony::kAlphabetSize; ++s)
    mask[static_cast<std::size_t>(s)] = allows(s);
}

void AccompanyGrammar::advance(int symbol) {
  if (!allows(symbol))
    throw InvalidArgument("accompany: symbol " + std::to_string(symbol) +
                          " not allowed at position " + std::to_string(grammar_.position()));
  grammar_.advance(symbol);
}
}  // namespace melodl::encode
