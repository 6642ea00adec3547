// eval/harmony_match.h: novelty of generated two-part harmonies against a
// training corpus of harmonies. Each voice is checked as a melody (encode::voice_melody,
// note tokens of match.h) against the corpus' voices of the same role (lower against
// lowers, upper against uppers): longest exact copy in notes and note n-gram overlap, plus
// the best local alignment for `melodl match`. Both voices together are checked as a
// sequence of steps (the pair of symbols sounding at each 1/16 s step): the longest run of
// steps that occurs verbatim in some corpus harmony, and step n-gram overlap.
// Part of melodl_eval; used by `melodl train --harmonies` (novelty of the last epoch's
// samples), `melodl match` and `melodl eval` on harmony models. Metrics: docs/evaluation.md.
// Tests: tests/pipeline/harmony_pipeline_test.cpp.
//
// Example:
//   eval::HarmonyCorpusIndex index(training_harmonies);
//   auto n = index.novelty(generated);   // n.joint.longest_copy.length steps, n.upper...
#pragma once

#include <cstddef>
#include <vector>

#include "encode/harmony.h"
#include "eval/match.h"

namespace melodl::eval {

// One token per step of a harmony: the pair (lower symbol, upper symbol) of the native
// harmony alphabet, packed so that it never looks like a first-note token of match.h.
std::vector<Token> harmony_step_tokens(const encode::SymbolHarmony& harmony);

struct HarmonyNovelty {
  std::size_t steps = 0;  // steps of the generated harmony
  std::size_t lower_notes = 0, upper_notes = 0;
  Novelty lower, upper;  // each voice against the corpus voices of its role (notes)
  Novelty joint;         // both voices, in steps (longest_copy.length = steps)
  // Held notes make long step copies cheap (a chord held for 10 s is 160 identical
  // steps), so copies are also measured in note onsets: the most onsets (both voices)
  // inside one run of steps found verbatim in a corpus harmony, and that run's steps.
  std::size_t onset_copy = 0;
  std::size_t onset_copy_steps = 0;
};

class HarmonyCorpusIndex {
 public:
  explicit HarmonyCorpusIndex(const std::vector<encode::SymbolHarmony>& corpus);
  std::size_t size() const { return size_; }
  HarmonyNovelty novelty(const encode::SymbolHarmony& generated) const;
  // The voices as melodies (corpus order), e.g. for alignment with match_melodies.
  const CorpusIndex& lower() const { return lower_; }
  const CorpusIndex& upper() const { return upper_; }
  const CorpusIndex& joint() const { return joint_; }

 private:
  std::size_t size_ = 0;
  CorpusIndex lower_, upper_, joint_;
};

}  // namespace melodl::eval
