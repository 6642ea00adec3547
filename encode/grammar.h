// encode/grammar.h: the native melody format as symbol indices, and its grammar as an
// automaton for constrained sampling. A sampler masks, at every step, the symbols that
// would break the grammar (allowed()), so every sampled line decodes with nothing
// skipped. The native decoder (encode/codec.cpp) runs the same automaton.
// Spec: docs/formats.md. Test: tests/encode/grammar_test.cpp.
//
// Example (sampling one melody):
//   melodl::encode::NativeGrammar g;               // state start: only '<' allowed
//   std::vector<bool> mask;
//   while (!g.complete()) {
//     g.allowed(mask);                             // kAlphabetSize entries
//     int sym = sample_from(probabilities, mask);  // zero the masked-out ones first
//     g.advance(sym);
//     line += melodl::encode::native::symbol_char(sym);
//   }
#pragma once

#include <cstdint>
#include <vector>

#include "encode/melody.h"

namespace melodl::encode {

// Symbol indices of the native alphabet, in native_codec().alphabet() order.
namespace native {
inline constexpr int kIntervalBase = 0;   // 0..24: interval -12..+12, chars 'A'..'Y'
inline constexpr int kDurationBase = 25;  // 25..56: duration index 0..31, chars '0'..'9' 'a'..'v'
inline constexpr int kRest = 57;          // '_'
inline constexpr int kStart = 58;         // '<'
inline constexpr int kEnd = 59;           // '>'
inline constexpr int kAlphabetSize = 60;

constexpr bool is_interval(int symbol) {
  return symbol >= kIntervalBase && symbol < kIntervalBase + 2 * kMaxInterval + 1;
}
constexpr bool is_duration(int symbol) {
  return symbol >= kDurationBase && symbol < kDurationBase + kDurationLevels;
}
constexpr int interval_symbol(int interval) { return kIntervalBase + interval + kMaxInterval; }
constexpr int duration_symbol(int index) { return kDurationBase + index; }
constexpr int interval_of(int symbol) { return symbol - kIntervalBase - kMaxInterval; }
constexpr int duration_of(int symbol) { return symbol - kDurationBase; }

// The char of a symbol index (throws InvalidArgument outside 0..59), and the index of
// a char (-1 when the char is not in the alphabet).
char symbol_char(int symbol);
int symbol_index(char c);
}  // namespace native

class NativeGrammar {
 public:
  enum class State : std::uint8_t {
    start,           // nothing read: only '<'
    first_duration,  // after '<': the first note's duration
    after_note,      // after a note's duration: '_', an interval, or '>'
    rest_duration,   // after '_': the rest's duration
    after_rest,      // after a rest's duration: '_' or an interval
    note_duration,   // after an interval: the note's duration
    done,            // after '>': nothing (reset() for the next melody)
  };

  State state() const { return state_; }
  bool complete() const { return state_ == State::done; }
  void reset() { state_ = State::start; }

  // Whether `symbol` (an index 0..kAlphabetSize-1) may come next.
  bool allows(int symbol) const { return transition(state_, symbol, nullptr); }
  // Mask over the alphabet of the symbols that may come next.
  std::vector<bool> allowed() const;
  void allowed(std::vector<bool>& mask) const;  // resized to kAlphabetSize; no allocation after
  // Moves past `symbol`; throws InvalidArgument when !allows(symbol).
  void advance(int symbol);
  // The fewest symbols that complete the melody from here (0 when done; 3 at start:
  // "<", a duration, ">"). A sampler with a length budget forces the shortest closing
  // path once the budget left reaches this number.
  int symbols_to_complete() const;

  // The automaton: whether `symbol` is allowed in state `s`, and if so the next state
  // (written to *next when next is not null).
  static bool transition(State s, int symbol, State* next);

 private:
  State state_ = State::start;
};

}  // namespace melodl::encode
