// examples/pipeline/composing.h: sampling melodies from a trained network with the native
// grammar as a mask (encode/grammar.h), so every generated line decodes with nothing
// skipped, and scoring a network on melodies (bits per symbol and per note).
// Part of melodl_pipeline; used by `melodl train` (samples after each epoch), `compose`
// and `eval`. See docs/training.md. Tests: tests/train/compose_test.cpp.
//
// Example:
//   melodl::pipeline::ComposeOptions o;  o.count = 8;  o.seed = 7;
//   melodl::pipeline::ComposeStats stats;
//   auto pieces = melodl::pipeline::compose(net, vocab, o, &stats);
//   // pieces[k].decoded.melody is playable; stats.clean == 8 when constrained
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "examples/pipeline/corpus.h"
#include "lstm/network.h"

namespace melodl::pipeline {

struct ComposeOptions {
  int count = 8;
  int length = 500;  // at most this many generated symbols per melody (prime excluded)
  float temperature = 1.0f;
  int top_k = 0;
  std::uint64_t seed = 1;
  bool constrained = true;  // mask symbols that would break the grammar
  // Priming symbols (native chars); "" = "<". A missing leading '<' is added. In
  // constrained mode the prime must be a grammatical prefix (std::invalid_argument).
  std::string prime;
};

struct Composition {
  std::string text;       // prime + generated symbols, up to and including '>' (if reached)
  bool finished = false;  // '>' was generated
  encode::DecodeResult decoded;
};

struct ComposeStats {
  std::size_t melodies = 0;
  std::size_t clean = 0;    // decoded with nothing skipped and at least one note
  std::size_t empty = 0;    // decoded to no note at all
  std::size_t symbols = 0;  // generated symbols
  std::size_t skipped = 0;  // symbols the decoder skipped (always 0 when constrained)
  std::size_t masked = 0;   // draws where the model's most likely symbol broke the grammar
};

// Throws std::invalid_argument for count < 1, length < 4 or a prime the vocabulary or
// (constrained) the grammar cannot take.
std::vector<Composition> compose(const lstm::Network& net, const Vocabulary& vocab,
                                 const ComposeOptions& options, ComposeStats* stats = nullptr);

// Prime string from the first `notes` notes of a melody (no end marker).
std::string prime_from_melody(const encode::SymbolMelody& melody, std::size_t notes);

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
// symbol outside vocab throw std::invalid_argument.
ModelScore score_network(const lstm::Network& net, const Vocabulary& vocab,
                         const std::vector<CorpusMelody>& melodies, int batch = 32);

}  // namespace melodl::pipeline
