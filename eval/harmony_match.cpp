// eval/harmony_match.cpp: novelty of two-part harmonies. See harmony_match.h.
#include "eval/harmony_match.h"

namespace melodl::eval {

namespace {

std::vector<encode::SymbolMelody> voices(const std::vector<encode::SymbolHarmony>& corpus,
                                         bool upper) {
  std::vector<encode::SymbolMelody> out;
  out.reserve(corpus.size());
  for (const auto& h : corpus) out.push_back(encode::voice_melody(upper ? h.upper : h.lower));
  return out;
}

std::vector<TokenizedMelody> joint_tokens(const std::vector<encode::SymbolHarmony>& corpus) {
  std::vector<TokenizedMelody> out;
  out.reserve(corpus.size());
  for (const auto& h : corpus) {
    TokenizedMelody t;
    t.tokens = harmony_step_tokens(h);
    t.step_of_token.resize(t.tokens.size());
    for (std::size_t i = 0; i < t.tokens.size(); ++i) t.step_of_token[i] = i;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

std::vector<Token> harmony_step_tokens(const encode::SymbolHarmony& harmony) {
  const std::vector<int> lower = encode::native_voice_symbols(harmony.lower);
  const std::vector<int> upper = encode::native_voice_symbols(harmony.upper);
  std::vector<Token> out(lower.size());
  constexpr int kLetters = encode::native_harmony::kAlphabetSize;
  for (std::size_t i = 0; i < lower.size(); ++i) {
    // code < 53 * 53 = 2809 spread over the token's fields: interval field code / 1056
    // (0..2, never the first-note value 25), duration field (code / 33) % 32, rest field
    // code % 33.
    const int code = lower[i] * kLetters + upper[i];
    out[i] = static_cast<Token>((code / 1056) << 11 | ((code / 33) % 32) << 6 | (code % 33));
  }
  return out;
}

HarmonyCorpusIndex::HarmonyCorpusIndex(const std::vector<encode::SymbolHarmony>& corpus)
    : size_(corpus.size()),
      lower_(voices(corpus, false)),
      upper_(voices(corpus, true)),
      joint_(joint_tokens(corpus)) {}

HarmonyNovelty HarmonyCorpusIndex::novelty(const encode::SymbolHarmony& generated) const {
  HarmonyNovelty n;
  n.steps = generated.steps();
  const TokenizedMelody lo = tokenize(encode::voice_melody(generated.lower));
  const TokenizedMelody up = tokenize(encode::voice_melody(generated.upper));
  n.lower_notes = lo.tokens.size();
  n.upper_notes = up.tokens.size();
  n.lower = lower_.novelty(lo.tokens);
  n.upper = upper_.novelty(up.tokens);
  const std::vector<Token> steps = harmony_step_tokens(generated);
  n.joint = joint_.novelty(steps);
  // Matching statistics give, for every start step, the longest copied run; the prefix
  // sums of onsets count the onsets inside it.
  std::vector<std::size_t> length, pos;
  joint_.matching_statistics(steps, length, pos);
  const encode::SymbolHarmony h = encode::normalize(generated);
  std::vector<std::size_t> onsets(h.steps() + 1, 0);
  for (std::size_t k = 0; k < h.steps(); ++k)
    onsets[k + 1] = onsets[k] + (h.lower[k].onset ? 1 : 0) + (h.upper[k].onset ? 1 : 0);
  for (std::size_t i = 0; i < length.size(); ++i) {
    const std::size_t o = onsets[i + length[i]] - onsets[i];
    if (o > n.onset_copy || (o == n.onset_copy && length[i] > n.onset_copy_steps)) {
      n.onset_copy = o;
      n.onset_copy_steps = length[i];
    }
  }
  return n;
}

}  // namespace melodl::eval
