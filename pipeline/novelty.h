// pipeline/novelty.h: how new a training run's last samples are: the samples of the last
// epoch against the run's training lines (eval/match.h, eval/harmony_match.h), as the
// "novelty" object of manifest.json. Melodies in notes; harmonies in steps of both voices
// together, in note onsets, and in notes of each voice alone.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/match.h"
#include "pipeline/corpus.h"
#include "pipeline/training.h"

namespace melodl::pipeline {

struct MelodySamplesNovelty {
  int epoch = 0;            // the last epoch with samples
  std::size_t samples = 0;  // its samples with at least one note
  std::size_t notes = 0;
  std::size_t longest_exact_copy_notes = 0;
  // Share of the samples' note n-grams also in the corpus, by n ("4" .. "8").
  std::map<std::string, double> ngram_overlap;
  // The counts behind it, n = eval::kMinNgram first (not in the JSON).
  std::array<eval::NgramOverlap, eval::kMaxNgram - eval::kMinNgram + 1> overlap{};
};

struct HarmonySamplesNovelty {
  int epoch = 0;
  std::size_t samples = 0;
  std::size_t steps = 0;
  std::size_t longest_exact_copy_steps = 0;  // both voices together
  std::size_t most_onsets_in_a_copy = 0;     // note onsets of both voices in one copy
  std::size_t most_onsets_copy_steps = 0;    // that copy's steps
  std::size_t lower_longest_exact_copy_notes = 0;
  std::size_t upper_longest_exact_copy_notes = 0;
  std::map<std::string, double> step_ngram_overlap;  // both voices, in steps, by n
};

// The manifest's "novelty" objects (the counts behind the shares are left out).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MelodySamplesNovelty, epoch, samples, notes,
                                   longest_exact_copy_notes, ngram_overlap)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HarmonySamplesNovelty, epoch, samples, steps,
                                   longest_exact_copy_steps, most_onsets_in_a_copy,
                                   most_onsets_copy_steps, lower_longest_exact_copy_notes,
                                   upper_longest_exact_copy_notes, step_ngram_overlap)

// The last epoch's samples (samples must not be empty) against `train`.
MelodySamplesNovelty melody_samples_novelty(const std::vector<CorpusMelody>& train,
                                            const std::vector<ComposedSample>& samples);
HarmonySamplesNovelty harmony_samples_novelty(const std::vector<CorpusMelody>& train,
                                              const std::vector<ComposedSample>& samples);

}  // namespace melodl::pipeline
