// eval/classify.h: which corpus does a melody sound like? One n-gram language model
// (eval/ngram.h, interpolated Kneser-Ney) per labelled corpus; a sequence goes to the corpus
// whose model gives it the fewest bits (equal priors). Used to check that a style-conditioned
// model's samples are told apart (`melodl classify`, docs/evaluation.md "Style classifier").
// Part of melodl_eval. Tests: tests/eval/classify_test.cpp.
//
// Example:
//   eval::NgramClassifier c(vocabulary_size, {.order = 4});
//   c.add("bach", bach_ids);            // std::vector<std::vector<int>>
//   c.add("folk", folk_ids);
//   const auto table = eval::confusion(c, {{"bach", samples_in_bach_style}, ...});
//   std::cout << table.markdown();      // rows: the samples' style, columns: the verdict
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "eval/ngram.h"

namespace melodl::eval {

class NgramClassifier {
 public:
  // vocabulary: number of symbol ids, as NgramModel. Throws InvalidArgument.
  NgramClassifier(int vocabulary, const NgramOptions& options = {});

  // Trains the model of a new label on its sequences (non-empty; a label once). Throws
  // InvalidArgument naming the label.
  void add(const std::string& label, const std::vector<std::vector<int>>& sequences);

  const std::vector<std::string>& labels() const { return labels_; }
  // The index of a label, -1 when there is none.
  int index(const std::string& label) const;
  // Bits per symbol (the end symbol included) of `sequence` under each label's model.
  std::vector<double> bits_per_symbol(const std::vector<int>& sequence) const;
  // The label index with the fewest bits (the lower index on a tie). Throws
  // InvalidArgument when no label was added.
  int classify(const std::vector<int>& sequence) const;

 private:
  int vocabulary_;
  NgramOptions options_;
  std::vector<std::string> labels_;
  std::vector<NgramModel> models_;
};

struct Confusion {
  std::vector<std::string> labels;               // the classifier's labels
  std::vector<std::vector<std::size_t>> counts;  // [true label][verdict]
  std::size_t total() const;
  std::size_t correct() const;  // the diagonal
  double accuracy() const;      // correct / total (0 when empty)
  // A markdown table: one row per true label with samples, one column per verdict, the
  // row's share classified correctly, then the overall accuracy.
  std::string markdown() const;
};

// Classifies every sequence of every (true label, sequences) set. Throws InvalidArgument
// for a label the classifier lacks.
Confusion confusion(const NgramClassifier& classifier,
                    const std::vector<std::pair<std::string, std::vector<std::vector<int>>>>& sets);

}  // namespace melodl::eval
