// eval/ngram.cpp: counting, modified Kneser-Ney discounts and the
// interpolated probability of the n-gram baseline declared in ngram.h. Part of
// melodl_eval; formulas in docs/evaluation.md. Tests: tests/eval/ngram_test.cpp.
#include "eval/ngram.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "base/error.h"

namespace melodl::eval {

// ---- vocabulary ----------------------------------------------------------------------
SymbolVocabulary::SymbolVocabulary(const encode::Codec& codec) {
  id_.fill(-1);
  for (char c : codec.alphabet()) {
    const auto u = static_cast<unsigned char>(c);
    if (id_[u] >= 0) continue;
    id_[u] = static_cast<int>(chars_.size());
    chars_.push_back(c);
  }
}

int SymbolVocabulary::id(char c) const { return id_[static_cast<unsigned char>(c)]; }

std::vector<int> SymbolVocabulary::ids(std::string_view line) const {
  std::vector<int> out;
  out.reserve(line.size());
  for (std::size_t i = 0; i < line.size(); ++i) {
    const int v = id(line[i]);
    if (v < 0)
      throw InvalidArgument("[SymbolVocabulary::ids] character '" + std::string(1, line[i]) +
                            "' at column " + std::to_string(i + 1) +
                            " is not in the codec's alphabet");
    out.push_back(v);
  }
  return out;
}

// ---- model -----------------------------------------------------------------------------
// Keys pack up to 6 ids of 10 bits, oldest first (the newest in the lowest bits), so the
// context of a k-gram is key >> 10 and its suffix (oldest id dropped) is a mask.
namespace {
constexpr int kBits = 10;
std::uint64_t drop_oldest(std::uint64_t key, int k) {
  return k <= 1 ? 0 : key & ((std::uint64_t{1} << (kBits * (k - 1))) - 1);
}
}  // namespace

NgramModel::NgramModel(int vocabulary, const NgramOptions& options)
    : vocabulary_(vocabulary), options_(options) {
  if (vocabulary < 1 || vocabulary > kMaxVocabulary)
    throw InvalidArgument("[NgramModel] vocabulary must be in 1.." +
                          std::to_string(kMaxVocabulary) + ", got " + std::to_string(vocabulary));
  if (options.order < 1 || options.order > kMaxOrder)
    throw InvalidArgument("[NgramModel] order must be in 1..6, got " +
                          std::to_string(options.order));
  counts_.resize(static_cast<std::size_t>(options.order));
  contexts_.resize(static_cast<std::size_t>(options.order));
  discounts_.assign(static_cast<std::size_t>(options.order), {0.0, 0.0, 0.0});
}

void NgramModel::train(const std::vector<std::vector<int>>& sequences) {
  if (trained_) throw InvalidArgument("[NgramModel::train] the model is already trained");
  trained_ = true;
  const int n = options_.order;
  const int bos = vocabulary_ + 1, eos = vocabulary_;
  // Top order: raw counts over each sequence padded with n-1 starts, closed by the end.
  auto& top = counts_[static_cast<std::size_t>(n - 1)];
  std::vector<int> padded;
  for (std::size_t s = 0; s < sequences.size(); ++s) {
    padded.assign(static_cast<std::size_t>(n - 1), bos);
    for (int v : sequences[s]) {
      if (v < 0 || v >= vocabulary_)
        throw InvalidArgument("[NgramModel::train] sequence " + std::to_string(s) + " holds id " +
                              std::to_string(v) + " outside 0.." + std::to_string(vocabulary_ - 1));
      padded.push_back(v);
    }
    padded.push_back(eos);
    std::uint64_t key = 0;
    for (std::size_t t = 0; t < padded.size(); ++t) {
      key = ((key << kBits) | static_cast<std::uint64_t>(padded[t])) &
            ((n * kBits >= 64) ? ~std::uint64_t{0} : ((std::uint64_t{1} << (n * kBits)) - 1));
      if (t + 1 >= static_cast<std::size_t>(n)) ++top[key];
    }
  }
  // Lower orders: Kneser-Ney continuation counts N1+(. w) = distinct left extensions;
  // add-one needs only the top order.
  if (options_.smoothing == Smoothing::kneser_ney) {
    for (int k = n - 1; k >= 1; --k) {
      auto& lower = counts_[static_cast<std::size_t>(k - 1)];
      for (const auto& [key, c] : counts_[static_cast<std::size_t>(k)]) {
        (void)c;
        ++lower[drop_oldest(key, k + 1)];
      }
    }
  }
  for (int k = 1; k <= n; ++k) {
    const auto& ck = counts_[static_cast<std::size_t>(k - 1)];
    auto& ctx = contexts_[static_cast<std::size_t>(k - 1)];
    std::array<std::uint64_t, 5> coc{};  // count of counts 1..4
    for (const auto& [key, c] : ck) {
      ContextStats& st = ctx[key >> kBits];
      st.total += c;
      (c == 1 ? st.n1 : c == 2 ? st.n2 : st.n3) += 1;
      if (c <= 4) ++coc[c];
    }
    // Chen and Goodman's estimates; defaults when a count of counts is zero, and kept
    // strictly inside (0, c) so every seen context leaves mass for the lower order.
    const double n1 = static_cast<double>(coc[1]), n2 = static_cast<double>(coc[2]),
                 n3 = static_cast<double>(coc[3]), n4 = static_cast<double>(coc[4]);
    const double y = (n1 + 2 * n2) > 0 ? n1 / (n1 + 2 * n2) : 0.5;
    double d1 = n1 > 0 ? 1 - 2 * y * n2 / n1 : 0.5;
    double d2 = n2 > 0 ? 2 - 3 * y * n3 / n2 : 1.0;
    double d3 = n3 > 0 ? 3 - 4 * y * n4 / n3 : 1.5;
    d1 = std::clamp(d1, 0.05, 0.95);
    d2 = std::clamp(d2, 0.05, 1.95);
    d3 = std::clamp(d3, 0.05, 2.95);
    discounts_[static_cast<std::size_t>(k - 1)] = {d1, d2, d3};
  }
}

std::array<double, 3> NgramModel::discounts(int order) const {
  if (order < 1 || order > options_.order)
    throw InvalidArgument("[NgramModel::discounts] order must be in 1.." +
                          std::to_string(options_.order));
  return discounts_[static_cast<std::size_t>(order - 1)];
}

double NgramModel::probability_padded(const int* context, int symbol) const {
  const int n = options_.order;
  const double outcomes = vocabulary_ + 1;
  // Key of the context's last j ids.
  auto context_key = [&](int j) {
    std::uint64_t key = 0;
    for (int t = n - 1 - j; t < n - 1; ++t)
      key = (key << kBits) | static_cast<std::uint64_t>(context[t]);
    return key;
  };
  if (options_.smoothing == Smoothing::add_one) {
    const std::uint64_t h = context_key(n - 1);
    const std::uint64_t hw = (h << kBits) | static_cast<std::uint64_t>(symbol);
    const auto& top = counts_[static_cast<std::size_t>(n - 1)];
    const auto& ctx = contexts_[static_cast<std::size_t>(n - 1)];
    const auto c = top.find(hw);
    const auto st = ctx.find(h);
    const double num = 1.0 + (c == top.end() ? 0.0 : static_cast<double>(c->second));
    const double den = outcomes + (st == ctx.end() ? 0.0 : static_cast<double>(st->second.total));
    return num / den;
  }
  // Interpolated modified Kneser-Ney, from the uniform distribution up:
  // p_k(w|h) = (max(c(hw) - D(c), 0) + gamma(h) p_{k-1}(w|h')) / c(h.),
  // gamma(h) = D1 N1(h.) + D2 N2(h.) + D3 N3+(h.); unseen contexts pass p_{k-1} through.
  double p = 1.0 / outcomes;
  for (int k = 1; k <= n; ++k) {
    const std::uint64_t h = context_key(k - 1);
    const auto& ctx = contexts_[static_cast<std::size_t>(k - 1)];
    const auto st = ctx.find(h);
    if (st == ctx.end() || st->second.total == 0) continue;
    const auto& d = discounts_[static_cast<std::size_t>(k - 1)];
    const auto& ck = counts_[static_cast<std::size_t>(k - 1)];
    const auto c = ck.find((h << kBits) | static_cast<std::uint64_t>(symbol));
    double num = 0.0;
    if (c != ck.end()) {
      const std::uint64_t cnt = c->second;
      num = static_cast<double>(cnt) - d[std::min<std::uint64_t>(cnt, 3) - 1];
    }
    const ContextStats& s = st->second;
    const double gamma = d[0] * static_cast<double>(s.n1) + d[1] * static_cast<double>(s.n2) +
                         d[2] * static_cast<double>(s.n3);
    p = (num + gamma * p) / static_cast<double>(s.total);
  }
  return p;
}

double NgramModel::probability(const std::vector<int>& history, int symbol) const {
  if (symbol < 0 || symbol > vocabulary_)
    throw InvalidArgument("[NgramModel::probability] symbol " + std::to_string(symbol) +
                          " outside 0.." + std::to_string(vocabulary_));
  std::array<int, kMaxOrder> ctx{};
  const int need = options_.order - 1;
  const int have =
      static_cast<int>(std::min<std::size_t>(history.size(), static_cast<std::size_t>(need)));
  for (int t = 0; t < need - have; ++t) ctx[static_cast<std::size_t>(t)] = vocabulary_ + 1;
  for (int t = 0; t < have; ++t) {
    const int v =
        history[history.size() - static_cast<std::size_t>(have) + static_cast<std::size_t>(t)];
    if (v < 0 || v >= vocabulary_)
      throw InvalidArgument("[NgramModel::probability] history holds id " + std::to_string(v) +
                            " outside 0.." + std::to_string(vocabulary_ - 1));
    ctx[static_cast<std::size_t>(need - have + t)] = v;
  }
  return probability_padded(ctx.data(), symbol);
}

double NgramModel::sequence_bits(const std::vector<int>& sequence) const {
  const int need = options_.order - 1;
  std::vector<int> padded(static_cast<std::size_t>(need), vocabulary_ + 1);
  double bits = 0.0;
  for (std::size_t t = 0; t <= sequence.size(); ++t) {
    const int w = t < sequence.size() ? sequence[t] : vocabulary_;
    if (w < 0 || w > vocabulary_ || (t < sequence.size() && w == vocabulary_))
      throw InvalidArgument("[NgramModel::sequence_bits] id " + std::to_string(w) +
                            " at position " + std::to_string(t) + " outside 0.." +
                            std::to_string(vocabulary_ - 1));
    bits -= std::log2(
        probability_padded(padded.data() + (padded.size() - static_cast<std::size_t>(need)), w));
    padded.push_back(w);
  }
  return bits;
}

double Evaluation::perplexity() const { return std::exp2(bits_per_symbol()); }

Evaluation evaluate(const NgramModel& model, const std::vector<std::vector<int>>& sequences,
                    const std::vector<std::size_t>& notes) {
  if (!notes.empty() && notes.size() != sequences.size())
    throw InvalidArgument("[evaluate] notes has " + std::to_string(notes.size()) + " entries for " +
                          std::to_string(sequences.size()) + " sequences");
  Evaluation ev;
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    ev.bits += model.sequence_bits(sequences[i]);
    ev.symbols += sequences[i].size() + 1;
    ++ev.sequences;
    if (!notes.empty()) ev.notes += notes[i];
  }
  return ev;
}

}  // namespace melodl::eval
