// pipeline/novelty.cpp: see novelty.h.
#include "pipeline/novelty.h"

#include <algorithm>

#include "encode/codec.h"
#include "encode/harmony.h"
#include "eval/harmony_match.h"

namespace melodl::pipeline {

namespace {

constexpr std::size_t kOrders = eval::kMaxNgram - eval::kMinNgram + 1;

// {"4": found/total, ...} of per-order counts summed over the samples.
std::map<std::string, double> overlap_shares(const std::array<eval::NgramOverlap, kOrders>& o) {
  std::map<std::string, double> out;
  for (std::size_t i = 0; i < kOrders; ++i)
    out[std::to_string(eval::kMinNgram + static_cast<int>(i))] =
        o[i].total ? static_cast<double>(o[i].found) / static_cast<double>(o[i].total) : 0.0;
  return out;
}

// Zero counts for n = kMinNgram .. kMaxNgram.
std::array<eval::NgramOverlap, kOrders> no_counts() {
  std::array<eval::NgramOverlap, kOrders> out{};
  for (std::size_t i = 0; i < kOrders; ++i) out[i].n = eval::kMinNgram + static_cast<int>(i);
  return out;
}

void add_counts(std::array<eval::NgramOverlap, kOrders>& sum,
                const std::array<eval::NgramOverlap, kOrders>& one) {
  for (std::size_t i = 0; i < kOrders; ++i) {
    sum[i].found += one[i].found;
    sum[i].total += one[i].total;
  }
}

}  // namespace

MelodySamplesNovelty melody_samples_novelty(const std::vector<CorpusMelody>& train,
                                            const std::vector<ComposedSample>& samples) {
  std::vector<encode::SymbolMelody> corpus;
  for (const auto& m : train) corpus.push_back(m.melody);
  const eval::CorpusIndex index(corpus);
  MelodySamplesNovelty out;
  out.epoch = samples.back().epoch;
  out.overlap = no_counts();
  for (const auto& s : samples) {
    if (s.epoch != out.epoch) continue;
    const auto dec = encode::native_codec().decode(s.text);
    if (dec.melody.steps.empty()) continue;
    const auto tok = eval::tokenize(dec.melody);
    const auto nov = index.novelty(tok.tokens);
    out.longest_exact_copy_notes = std::max(out.longest_exact_copy_notes, nov.longest_copy.length);
    out.notes += tok.tokens.size();
    ++out.samples;
    add_counts(out.overlap, nov.overlap);
  }
  out.ngram_overlap = overlap_shares(out.overlap);
  return out;
}

HarmonySamplesNovelty harmony_samples_novelty(const std::vector<CorpusMelody>& train,
                                              const std::vector<ComposedSample>& samples) {
  std::vector<encode::SymbolHarmony> corpus;
  corpus.reserve(train.size());
  for (const auto& m : train) corpus.push_back(m.harmony);
  const eval::HarmonyCorpusIndex index(corpus);
  HarmonySamplesNovelty out;
  out.epoch = samples.back().epoch;
  std::array<eval::NgramOverlap, kOrders> overlap = no_counts();
  for (const auto& s : samples) {
    if (s.epoch != out.epoch) continue;
    const auto dec = encode::native_harmony_codec().decode(s.text);
    if (dec.harmony.steps() == 0) continue;
    const eval::HarmonyNovelty nov = index.novelty(dec.harmony);
    ++out.samples;
    out.steps += nov.steps;
    out.longest_exact_copy_steps =
        std::max(out.longest_exact_copy_steps, nov.joint.longest_copy.length);
    if (nov.onset_copy > out.most_onsets_in_a_copy) {
      out.most_onsets_in_a_copy = nov.onset_copy;
      out.most_onsets_copy_steps = nov.onset_copy_steps;
    }
    out.lower_longest_exact_copy_notes =
        std::max(out.lower_longest_exact_copy_notes, nov.lower.longest_copy.length);
    out.upper_longest_exact_copy_notes =
        std::max(out.upper_longest_exact_copy_notes, nov.upper.longest_copy.length);
    add_counts(overlap, nov.joint.overlap);
  }
  out.step_ngram_overlap = overlap_shares(overlap);
  return out;
}

}  // namespace melodl::pipeline
