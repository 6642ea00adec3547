// encode/grammar.cpp: the native alphabet's char <-> index tables and the grammar
// automaton (see encode/grammar.h, docs/formats.md "Native format").
#include "encode/grammar.h"

#include <array>
#include <stdexcept>
#include <string>

#include "base/error.h"

namespace melodl::encode {

namespace native {

namespace {

constexpr char kDurationChars[] = "0123456789abcdefghijklmnopqrstuv";

constexpr std::array<char, kAlphabetSize> make_chars() {
  std::array<char, kAlphabetSize> a{};
  for (int i = 0; i < 2 * kMaxInterval + 1; ++i) a[kIntervalBase + i] = static_cast<char>('A' + i);
  for (int k = 0; k < kDurationLevels; ++k) a[kDurationBase + k] = kDurationChars[k];
  a[kRest] = '_';
  a[kStart] = '<';
  a[kEnd] = '>';
  return a;
}
constexpr std::array<char, kAlphabetSize> kChars = make_chars();

constexpr std::array<signed char, 256> make_index() {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < kAlphabetSize; ++i)
    t[static_cast<unsigned char>(kChars[i])] = static_cast<signed char>(i);
  return t;
}
constexpr std::array<signed char, 256> kIndex = make_index();

}  // namespace

char symbol_char(int symbol) {
  if (symbol < 0 || symbol >= kAlphabetSize) {
    throw InvalidArgument("[encode::native::symbol_char] symbol index " + std::to_string(symbol) +
                          " outside 0.." + std::to_string(kAlphabetSize - 1));
  }
  return kChars[static_cast<std::size_t>(symbol)];
}

int symbol_index(char c) { return kIndex[static_cast<unsigned char>(c)]; }

}  // namespace native

bool NativeGrammar::transition(State s, int sym, State* next) {
  using native::is_duration;
  using native::is_interval;
  State to = s;
  switch (s) {
    case State::start:
      if (sym != native::kStart) return false;
      to = State::first_duration;
      break;
    case State::first_duration:
    case State::note_duration:
      if (!is_duration(sym)) return false;
      to = State::after_note;
      break;
    case State::rest_duration:
      if (!is_duration(sym)) return false;
      to = State::after_rest;
      break;
    case State::after_note:
    case State::after_rest:
      if (sym == native::kRest) {
        to = State::rest_duration;
      } else if (is_interval(sym)) {
        to = State::note_duration;
      } else if (sym == native::kEnd && s == State::after_note) {
        to = State::done;
      } else {
        return false;
      }
      break;
    case State::done:
      return false;
  }
  if (next) *next = to;
  return true;
}

void NativeGrammar::allowed(std::vector<bool>& mask) const {
  mask.assign(native::kAlphabetSize, false);
  for (int i = 0; i < native::kAlphabetSize; ++i) mask[static_cast<std::size_t>(i)] = allows(i);
}

std::vector<bool> NativeGrammar::allowed() const {
  std::vector<bool> mask;
  allowed(mask);
  return mask;
}

int NativeGrammar::symbols_to_complete() const {
  switch (state_) {
    case State::start:
      return 3;  // < d >
    case State::first_duration:
    case State::note_duration:
      return 2;  // d >
    case State::after_note:
      return 1;  // >
    case State::rest_duration:
      return 4;  // d i d >
    case State::after_rest:
      return 3;  // i d >
    case State::done:
      return 0;
  }
  return 0;
}

void NativeGrammar::advance(int symbol) {
  State next{};
  if (!transition(state_, symbol, &next)) {
    throw InvalidArgument("[NativeGrammar::advance] symbol " + std::to_string(symbol) +
                          " is not allowed in state " + std::to_string(static_cast<int>(state_)));
  }
  state_ = next;
}

}  // namespace melodl::encode
