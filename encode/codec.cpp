// encode/codec.cpp: the native melody codec (grammar automaton from grammar.h) and the
// MELODL4J v1 compatibility codec (original alphabet and PlayMelodyStrings decode
// behaviour). Exact rules: docs/formats.md. Tests: tests/encode/codec_test.cpp.
#include "encode/codec.h"

#include <stdexcept>
#include <string>

#include "base/error.h"
#include "encode/grammar.h"

namespace melodl::encode {

namespace {

int fold_interval(int iv) {
  while (iv > kMaxInterval) iv -= 12;
  while (iv < -kMaxInterval) iv += 12;
  return iv;
}

// The structural contract shared by both encoders (see Codec::encode).
void check_encodable(const SymbolMelody& m, const char* who) {
  const std::string where = std::string("[") + who + " encode] ";
  if (m.steps.empty()) throw InvalidArgument(where + "empty melody");
  if (m.steps.front().rest) throw InvalidArgument(where + "melody starts with a rest");
  if (m.steps.back().rest) throw InvalidArgument(where + "melody ends with a rest");
  for (std::size_t i = 0; i < m.steps.size(); ++i) {
    const int k = m.steps[i].duration;
    if (k < 0 || k >= kDurationLevels) {
      throw InvalidArgument(where + "step " + std::to_string(i) + ": duration index " +
                            std::to_string(k) + " outside 0.." +
                            std::to_string(kDurationLevels - 1));
    }
  }
}

// ---- native ---------------------------------------------------------------------

class NativeCodec final : public Codec {
 public:
  std::string_view name() const override { return "native"; }

  std::string encode(const SymbolMelody& m) const override {
    check_encodable(m, "native");
    std::string out;
    out.reserve(2 * m.steps.size() + 2);
    out += native::symbol_char(native::kStart);
    for (std::size_t i = 0; i < m.steps.size(); ++i) {
      const Step& s = m.steps[i];
      if (s.rest) {
        out += native::symbol_char(native::kRest);
      } else if (i > 0) {
        out += native::symbol_char(native::interval_symbol(fold_interval(s.interval)));
      }
      out += native::symbol_char(native::duration_symbol(s.duration));
    }
    out += native::symbol_char(native::kEnd);
    return out;
  }

  // Runs the grammar automaton; what it does not accept is skipped. The start marker is
  // optional (a line may open with the first duration); decoding stops at the end marker;
  // an unfinished step at the end of the line is dropped with its symbols counted.
  DecodeResult decode(std::string_view line) const override {
    using State = NativeGrammar::State;
    DecodeResult r;
    auto& steps = r.melody.steps;
    steps.reserve(line.size() / 2 + 1);
    State st = State::start;
    std::size_t committed = 0;  // steps up to the last complete note
    std::size_t pending = 0;    // symbols read since then
    int interval = 0;
    std::size_t i = 0;
    for (; i < line.size() && st != State::done; ++i) {
      const int sym = native::symbol_index(line[i]);
      if (sym < 0) {
        ++r.skipped;
        continue;
      }
      if (st == State::start && native::is_duration(sym)) st = State::first_duration;
      State next{};
      if (!NativeGrammar::transition(st, sym, &next)) {
        ++r.skipped;
        continue;
      }
      switch (st) {
        case State::start:  // '<'
          pending = 1;
          break;
        case State::first_duration:
          steps.push_back(Step{false, 0, native::duration_of(sym)});
          committed = steps.size();
          pending = 0;
          break;
        case State::after_note:
        case State::after_rest:
          if (sym == native::kRest) {
            steps.push_back(Step{true, 0, 0});
          } else if (native::is_interval(sym)) {
            interval = native::interval_of(sym);
          }  // else '>': next is done
          ++pending;
          break;
        case State::rest_duration:
          steps.back().duration = native::duration_of(sym);
          ++pending;
          break;
        case State::note_duration:
          steps.push_back(Step{false, interval, native::duration_of(sym)});
          committed = steps.size();
          pending = 0;
          break;
        case State::done:
          break;
      }
      st = next;
    }
    r.skipped += line.size() - i;  // after the end marker
    if (st != State::done && st != State::after_note) {
      r.skipped += pending;
      steps.resize(committed);
    }
    return r;
  }

  std::vector<char> alphabet() const override {
    std::vector<char> a(native::kAlphabetSize);
    for (int i = 0; i < native::kAlphabetSize; ++i)
      a[static_cast<std::size_t>(i)] = native::symbol_char(i);
    return a;
  }
};

// ---- MELODL4J v1 ------------------------------------------------------------------

constexpr std::string_view kV1Positive = "0123456789abc";                      // intervals 0..+12
constexpr std::string_view kV1Negative = "!@#$%^&*(ABCD";                      // intervals -1..-13
constexpr std::string_view kV1Durations = "defghijklmnopqrstuvwzyzEFGHIJKLM";  // 'z' twice
constexpr char kV1Rest = 'R';
constexpr int kV1MinInterval = -13;
constexpr int kV1MissingDuration = 3;  // v1 plays a note without duration char as 4 units = (3+1)

// v1 PlayMelodyStrings: a duration char is any char of the table except 'R' (none is 'R');
// its index is the FIRST occurrence, so both 'z' read as 20.
int v1_duration(char c) {
  const auto k = kV1Durations.find(c);
  return k == std::string_view::npos ? -1 : static_cast<int>(k);
}

class V1Codec final : public Codec {
 public:
  std::string_view name() const override { return "melodl4j-v1"; }

  std::string encode(const SymbolMelody& m) const override {
    check_encodable(m, "melodl4j-v1");
    std::string out;
    out.reserve(2 * m.steps.size());
    for (std::size_t i = 0; i < m.steps.size(); ++i) {
      const Step& s = m.steps[i];
      if (s.rest) {
        out += kV1Rest;
      } else if (i > 0) {
        int iv = s.interval;
        if (iv < kV1MinInterval || iv > kMaxInterval) iv = fold_interval(iv);
        out += iv >= 0 ? kV1Positive[static_cast<std::size_t>(iv)]
                       : kV1Negative[static_cast<std::size_t>(-1 - iv)];
      }
      out += kV1Durations[static_cast<std::size_t>(s.duration)];  // 22 writes 'z'
    }
    return out;
  }

  // MELODL4J v1 PlayMelodyStrings.createNoteSequence, token by token (docs/formats.md).
  DecodeResult decode(std::string_view line) const override {
    DecodeResult r;
    auto& steps = r.melody.steps;
    steps.reserve(line.size() / 2 + 1);
    const std::size_t n = line.size();
    std::size_t i = 0;
    bool have_note = false;
    if (n > 0 && v1_duration(line[0]) >= 0) {
      steps.push_back(Step{false, 0, v1_duration(line[0])});
      have_note = true;
      i = 1;
    }
    while (i + 1 < n) {  // v1: while (index < length - 1); the last char never starts a token
      const char c = line[i];
      if (c == kV1Rest) {
        ++i;
        const int k = v1_duration(line[i]);
        if (k >= 0) {
          if (have_note)
            steps.push_back(Step{true, 0, k});  // a rest before the first note is dropped
          ++i;
        } else {
          ++r.skipped;  // the 'R'; the char after it is examined as the next token
        }
      } else if (v1_duration(c) < 0) {  // a "pitch char": anything but 'R' and durations
        ++i;
        int iv = -1;  // the invalid-char quirk: unknown chars move down a semitone
        if (const auto p = kV1Positive.find(c); p != std::string_view::npos) {
          iv = static_cast<int>(p);
        } else if (const auto q = kV1Negative.find(c); q != std::string_view::npos) {
          iv = -1 - static_cast<int>(q);
        } else {
          ++r.substituted;
        }
        int k = v1_duration(line[i]);
        if (k >= 0) {
          ++i;
        } else {
          k = kV1MissingDuration;  // not consumed: the char is examined as the next token
          ++r.substituted;
        }
        steps.push_back(Step{false, iv, k});
        have_note = true;
      } else {
        ++r.skipped;  // a duration char where a token should start
        ++i;
      }
    }
    r.skipped += n - i;  // the last char, when no token consumed it
    while (!steps.empty() && steps.back().rest) steps.pop_back();  // trailing rests are silent
    return r;
  }

  std::vector<char> alphabet() const override {
    std::vector<char> a;
    a.reserve(kV1Positive.size() + kV1Negative.size() + kV1Durations.size() + 1);
    a.insert(a.end(), kV1Positive.begin(), kV1Positive.end());
    a.insert(a.end(), kV1Negative.begin(), kV1Negative.end());
    a.insert(a.end(), kV1Durations.begin(), kV1Durations.end());
    a.push_back(kV1Rest);
    return a;
  }
};

}  // namespace

const Codec& native_codec() {
  static const NativeCodec c;
  return c;
}

const Codec& melodl4j_v1_codec() {
  static const V1Codec c;
  return c;
}

const Codec& codec_by_name(std::string_view name) {
  if (name == "native") return native_codec();
  if (name == "melodl4j-v1") return melodl4j_v1_codec();
  throw InvalidArgument("[encode::codec_by_name] unknown codec '" + std::string(name) +
                        "' (expected native or melodl4j-v1)");
}

}  // namespace melodl::encode
