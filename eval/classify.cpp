// eval/classify.cpp: see classify.h.
#include "eval/classify.h"

#include <cstdio>

#include "base/error.h"

namespace melodl::eval {

NgramClassifier::NgramClassifier(int vocabulary, const NgramOptions& options)
    : vocabulary_(vocabulary), options_(options) {
  NgramModel check(vocabulary, options);  // validates both
  (void)check;
}

void NgramClassifier::add(const std::string& label,
                          const std::vector<std::vector<int>>& sequences) {
  if (label.empty()) throw InvalidArgument("[NgramClassifier] a label must not be empty");
  if (index(label) >= 0)
    throw InvalidArgument("[NgramClassifier] label '" + label + "' is given twice");
  if (sequences.empty())
    throw InvalidArgument("[NgramClassifier] label '" + label + "' has no sequences");
  NgramModel m(vocabulary_, options_);
  m.train(sequences);
  labels_.push_back(label);
  models_.push_back(std::move(m));
}

int NgramClassifier::index(const std::string& label) const {
  for (std::size_t i = 0; i < labels_.size(); ++i)
    if (labels_[i] == label) return static_cast<int>(i);
  return -1;
}

std::vector<double> NgramClassifier::bits_per_symbol(const std::vector<int>& sequence) const {
  std::vector<double> out;
  for (const auto& m : models_)
    out.push_back(m.sequence_bits(sequence) / static_cast<double>(sequence.size() + 1));
  return out;
}

int NgramClassifier::classify(const std::vector<int>& sequence) const {
  if (models_.empty()) throw InvalidArgument("[NgramClassifier] no labels to classify into");
  const auto b = bits_per_symbol(sequence);
  int best = 0;
  for (int i = 1; i < static_cast<int>(b.size()); ++i)
    if (b[static_cast<std::size_t>(i)] < b[static_cast<std::size_t>(best)]) best = i;
  return best;
}

std::size_t Confusion::total() const {
  std::size_t n = 0;
  for (const auto& row : counts)
    for (auto c : row) n += c;
  return n;
}

std::size_t Confusion::correct() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) n += counts[i][i];
  return n;
}

double Confusion::accuracy() const {
  const auto t = total();
  return t ? static_cast<double>(correct()) / static_cast<double>(t) : 0.0;
}

std::string Confusion::markdown() const {
  std::string s = "| samples \\ classified as |";
  for (const auto& l : labels) {
    s += " ";
    s += l;
    s += " |";
  }
  s += " correct |\n|---|";
  for (std::size_t i = 0; i < labels.size(); ++i) s += "---|";
  s += "---|\n";
  char buf[64];
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::size_t row = 0;
    for (auto c : counts[i]) row += c;
    if (row == 0) continue;
    s += "| ";
    s += labels[i];
    s += " |";
    for (std::size_t j = 0; j < labels.size(); ++j) {
      s += i == j ? " **" : " ";
      s += std::to_string(counts[i][j]);
      s += i == j ? "** |" : " |";
    }
    std::snprintf(buf, sizeof buf, " %.0f %% |\n", 100.0 * counts[i][i] / static_cast<double>(row));
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "\naccuracy: %zu of %zu (%.1f %%)\n", correct(), total(),
                100.0 * accuracy());
  return s + buf;
}

Confusion confusion(
    const NgramClassifier& classifier,
    const std::vector<std::pair<std::string, std::vector<std::vector<int>>>>& sets) {
  Confusion c;
  c.labels = classifier.labels();
  c.counts.assign(c.labels.size(), std::vector<std::size_t>(c.labels.size(), 0));
  for (const auto& [label, seqs] : sets) {
    const int t = classifier.index(label);
    if (t < 0)
      throw InvalidArgument("[confusion] samples labelled '" + label +
                            "', a label the classifier was not trained on");
    for (const auto& s : seqs)
      ++c.counts[static_cast<std::size_t>(t)][static_cast<std::size_t>(classifier.classify(s))];
  }
  return c;
}

}  // namespace melodl::eval
