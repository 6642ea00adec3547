// pipeline/composing.h: sampling melodies (or two-part harmonies) from a trained
// network with the native grammar of its kind as a mask (encode/grammar.h,
// encode::HarmonyGrammar), so every generated line decodes with nothing skipped; composing
// a lower voice under a given upper voice (encode::AccompanyGrammar); and scoring a network
// on lines (bits per symbol and per note).
// Part of melodl_pipeline; used by `melodl train` (samples after each epoch), `compose`
// and `eval`. See docs/training.md. Tests: tests/pipeline/compose_test.cpp.
//
// Example:
//   melodl::pipeline::ComposeOptions o;  o.count = 8;  o.seed = 7;
//   melodl::pipeline::ComposeStats stats;
//   auto pieces = melodl::pipeline::compose(net, vocab, o, &stats);
//   // pieces[k].decoded.melody is playable; stats.clean == 8 when constrained
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "encode/harmony.h"
#include "lstm/checkpoint.h"
#include "lstm/network.h"
#include "pipeline/corpus.h"

namespace melodl::pipeline {

// A trained model: its checkpoint and vocabulary (the line kind it composes).
struct LoadedModel {
  std::filesystem::path path;  // the checkpoint file
  lstm::LoadedCheckpoint checkpoint;
  Vocabulary vocab;
};

// Which checkpoint of a run directory to use: its best (RUN/best.safetensors, lowest
// validation bits/note; the latest good one when the run has none or it does not load) or
// its latest good one.
enum class CheckpointChoice { best, latest };

// A checkpoint file, or a run directory (its best or latest good checkpoint by `choice`,
// falling back to older ones, each passed over reported to `passed_over` first). Throws
// Error naming the file: missing, damaged, or not a melodl model. Composing and scoring run
// on the CPU whatever device trained the model: checkpoint.make_network().
LoadedModel load_model(const std::filesystem::path& where,
                       const std::function<void(const std::string&)>& passed_over = {},
                       CheckpointChoice choice = CheckpointChoice::best);

struct ComposeOptions {
  int count = 8;
  int length = 500;  // at most this many generated symbols per melody (prime excluded)
  float temperature = 1.0f;
  int top_k = 0;
  std::uint64_t seed = 1;
  bool constrained = true;  // mask symbols that would break the grammar
  // Priming symbols (native chars); "" = "<". A missing leading '<' is added. In
  // constrained mode the prime must be a grammatical prefix (InvalidArgument).
  std::string prime;
  // Style conditioning: the style symbol fed right after '<' ("" = none). A model with
  // styles (Vocabulary::styles()) needs one, a model without takes none (InvalidArgument,
  // listing the model's styles). Style symbols are never drawn nor written to the text.
  std::string style;
  // Harmony models only: the upper voice to accompany (e.g. encode::sample_voice of a
  // melody). Each piece's lower voice is composed step by step under it; the upper symbols
  // are fed to the network, not drawn. Needs constrained sampling, no prime, and
  // length >= 2 * accompany.size() + 1.
  std::vector<encode::HarmonySample> accompany;
};

struct Composition {
  std::string text;              // prime + generated symbols, up to and including '>' (if reached)
  bool finished = false;         // '>' was generated
  encode::DecodeResult decoded;  // melody models
  encode::HarmonyDecodeResult harmony;  // harmony models
};

struct ComposeStats {
  std::size_t melodies = 0;
  std::size_t clean = 0;    // decoded with nothing skipped or substituted, >= 1 note
  std::size_t empty = 0;    // decoded to no note at all
  std::size_t symbols = 0;  // generated symbols
  std::size_t skipped = 0;  // symbols the decoder skipped (always 0 when constrained)
  std::size_t masked = 0;   // draws where the model's most likely symbol broke the grammar
};

// Throws InvalidArgument for count < 1, length < 4 or a prime the vocabulary or
// (constrained) the grammar cannot take.
std::vector<Composition> compose(const lstm::Network& net, const Vocabulary& vocab,
                                 const ComposeOptions& options, ComposeStats* stats = nullptr);

// Prime string from the first `notes` notes of a melody (no end marker).
std::string prime_from_melody(const encode::SymbolMelody& melody, std::size_t notes);
// Prime string from the first `steps` steps of a harmony (no end marker).
std::string prime_from_harmony(const encode::SymbolHarmony& harmony, std::size_t steps);

struct ModelScore {
  double bits = 0.0;
  std::size_t symbols = 0;  // predictions: every symbol after '<', '>' included
  std::size_t notes = 0;
  std::size_t melodies = 0;
  double bits_per_symbol() const { return symbols ? bits / static_cast<double>(symbols) : 0.0; }
  double bits_per_note() const { return notes ? bits / static_cast<double>(notes) : 0.0; }
};

// -log2 P of every melody, each from a zero state starting at '<' (the same predictions
// an n-gram model over ngram_sequences() makes, so the numbers compare). Melodies with a
// symbol outside vocab throw InvalidArgument. A styled melody (CorpusMelody::style) is
// scored with its style given: the style symbol after '<' is input, not predicted, and
// the probabilities are over the music symbols alone (as compose draws them).
ModelScore score_network(const lstm::Network& net, const Vocabulary& vocab,
                         const std::vector<CorpusMelody>& melodies, int batch = 32);

}  // namespace melodl::pipeline
