// eval/ngram.h: an n-gram language model over symbol sequences, the
// baseline an LSTM must beat. Interpolated modified Kneser-Ney smoothing (Chen and
// Goodman) for orders 1..6, or add-one (Laplace) for comparison. Symbols are ids
// 0..V-1; the model adds an end-of-sequence symbol (id V, predicted) and pads contexts
// with a start symbol (never predicted). Part of melodl_eval; the formulas are in
// docs/evaluation.md. Tests: tests/eval/ngram_test.cpp.
//
// Example:
//   eval::SymbolVocabulary vocab(melodl::encode::native_codec());
//   eval::NgramModel lm(vocab.size(), {.order = 5});
//   lm.train(train_ids);                          // std::vector<std::vector<int>>
//   auto ev = eval::evaluate(lm, valid_ids, valid_notes);
//   std::cout << ev.bits_per_symbol() << " bits/symbol, " << ev.bits_per_note() << " bits/note\n";
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "encode/codec.h"

namespace melodl::eval {

// Maps a codec's characters to dense ids 0..size()-1 in alphabet order (a character
// listed twice, like v1's duplicate 'z', gets one id).
class SymbolVocabulary {
 public:
  explicit SymbolVocabulary(const encode::Codec& codec);
  int size() const { return static_cast<int>(chars_.size()); }
  int id(char c) const;  // -1 when the character is not in the alphabet
  char symbol(int id) const { return chars_.at(static_cast<std::size_t>(id)); }
  // Ids of a line; throws InvalidArgument naming the first unknown character.
  std::vector<int> ids(std::string_view line) const;

 private:
  std::vector<char> chars_;
  std::array<int, 256> id_{};
};

enum class Smoothing { kneser_ney, add_one };

struct NgramOptions {
  int order = 4;  // 1..6
  Smoothing smoothing = Smoothing::kneser_ney;
};

class NgramModel {
 public:
  static constexpr int kMaxOrder = 6;
  static constexpr int kMaxVocabulary = 1000;

  // vocabulary: number of symbol ids (1..kMaxVocabulary). Throws InvalidArgument.
  NgramModel(int vocabulary, const NgramOptions& options = {});

  // Counts every sequence (ids in 0..vocabulary-1, else InvalidArgument). May be
  // called once; a second call throws InvalidArgument.
  void train(const std::vector<std::vector<int>>& sequences);

  int vocabulary() const { return vocabulary_; }
  int end_symbol() const { return vocabulary_; }  // predicted after the last symbol
  int order() const { return options_.order; }
  // Discounts D1, D2, D3+ of an order (1..order), modified Kneser-Ney only.
  std::array<double, 3> discounts(int order) const;

  // P(symbol | history): history = the sequence so far (only its last order-1 ids
  // matter; shorter histories are padded with the start symbol). symbol in
  // 0..vocabulary (vocabulary = end). Sums to 1 over the vocabulary + 1 outcomes.
  double probability(const std::vector<int>& history, int symbol) const;
  // -log2 P(sequence, then end).
  double sequence_bits(const std::vector<int>& sequence) const;

 private:
  using Key = std::uint64_t;
  struct ContextStats {
    std::uint64_t total = 0;               // sum of counts with this context
    std::uint64_t n1 = 0, n2 = 0, n3 = 0;  // how many have count 1, 2, >= 3
  };
  double probability_padded(const int* context, int symbol) const;  // context: order-1 ids

  int vocabulary_;
  NgramOptions options_;
  bool trained_ = false;
  // Per order k (index k-1): counts of k-grams (raw at the top order, continuation
  // counts below for Kneser-Ney), the statistics of their (k-1)-symbol contexts, and
  // the discounts.
  std::vector<std::unordered_map<Key, std::uint64_t>> counts_;
  std::vector<std::unordered_map<Key, ContextStats>> contexts_;
  std::vector<std::array<double, 3>> discounts_;
};

struct Evaluation {
  double bits = 0.0;        // total -log2 probability
  std::size_t symbols = 0;  // predicted symbols, each sequence's end included
  std::size_t sequences = 0;
  std::size_t notes = 0;
  double bits_per_symbol() const { return symbols ? bits / static_cast<double>(symbols) : 0.0; }
  double bits_per_note() const { return notes ? bits / static_cast<double>(notes) : 0.0; }
  double perplexity() const;  // 2^bits_per_symbol
};

// notes[i]: notes of sequence i (for bits per note; pass {} to leave notes at 0).
// Throws InvalidArgument when notes is non-empty and of another size.
Evaluation evaluate(const NgramModel& model, const std::vector<std::vector<int>>& sequences,
                    const std::vector<std::size_t>& notes = {});

}  // namespace melodl::eval
