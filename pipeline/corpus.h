// pipeline/corpus.h: training data for `melodl train` / `compose` / `eval`.
// Native-format melody lines, or native-format two-part harmony lines (encode/harmony.h,
// docs/formats.md section 6), become symbol streams over a vocabulary taken from the data
// (the native alphabet of that kind restricted to the symbols that occur, in alphabet
// order, '<' and '>' always included and always last), lines are split into train / validation by
// SOURCE FILE, and training windows are packed from whole melodies (each window starts
// at a melody start; a melody longer than the window continues in the next windows).
// Part of melodl_pipeline (pipeline/); see docs/training.md.
// Tests: tests/pipeline/corpus_test.cpp.
//
// Example:
//   auto corpus = melodl::pipeline::Corpus::from_lines(entries);      // CorpusEntry list
//   auto split = corpus.split_by_source(0.1, 1);                      // train / valid
//   auto vocab = melodl::pipeline::Vocabulary::from_melodies(split.train);
//   auto windows = melodl::pipeline::make_windows(split.train, vocab, 500);
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "encode/codec.h"
#include "encode/harmony.h"
#include "encode/melody.h"

namespace melodl::pipeline {

// What a line holds: a melody (native melody format) or a two-part harmony (native
// harmony format). One corpus, vocabulary and model hold one kind.
enum class LineKind { melody, harmony };
const char* to_string(LineKind kind);  // "melody" / "harmony"

// One melody line with where it came from (the extract file's provenance).
struct CorpusEntry {
  std::string source;  // source file; melodies of one file stay on one side of the split
  std::string text;    // native codec string, with or without the '<' '>' markers
  int program = -1;
  int start_pitch = -1;
  LineKind kind = LineKind::melody;
};

// A line ready for the network: decoded and re-encoded canonically ('<' ... '>').
// (Named for melodies; with kind == harmony it holds a two-part harmony.)
struct CorpusMelody {
  std::string source;
  std::string text;  // canonical native line, markers included
  LineKind kind = LineKind::melody;
  encode::SymbolMelody melody;    // kind == melody
  encode::SymbolHarmony harmony;  // kind == harmony
  // The unit of bits per note: notes (not rests) of a melody; note onsets of both voices
  // of a harmony.
  std::size_t notes = 0;
  int program = -1;
  int start_pitch = -1;
  // Style conditioning (docs/training.md "Style conditioning"): the style whose symbol
  // follows '<' in the network's input ("" = none; one of the vocabulary's styles()).
  std::string style;
};

// The network's symbol set: chars of the native alphabet of one kind (melody: 60
// symbols, encode/grammar.h; harmony: 53 symbols, encode/harmony.h), in alphabet order.
// Checkpoints store it as stored(): the chars for melodies (as before), "harmony:" + the
// chars for harmonies.
// Style conditioning: a vocabulary may also hold style symbols (named, e.g. "bach"), ids
// after the chars (size() counts them; chars() does not). They never occur in a line's
// text: ids(line, style) puts one right after the leading '<'. stored() appends
// "\nstyles=NAME,NAME" only when there are styles (unstyled checkpoints are as before).
class Vocabulary {
 public:
  Vocabulary() = default;
  // From the chars themselves. Throws InvalidArgument for a char outside the
  // kind's native alphabet, a duplicate, an order other than the alphabet's, or a set
  // without '<' and '>' at the end.
  explicit Vocabulary(std::string chars, LineKind kind = LineKind::melody);
  // From a checkpoint's vocabulary string (stored()); throws as the constructor.
  static Vocabulary parse(std::string_view stored);
  // The kind's native alphabet restricted to the chars occurring in the lines, which must
  // all be of one kind (InvalidArgument otherwise; no lines: melody).
  static Vocabulary from_melodies(const std::vector<CorpusMelody>& melodies);
  // The full native alphabet (melody 60 symbols, harmony 53).
  static Vocabulary full(LineKind kind = LineKind::melody);
  // This vocabulary with style symbols `names` (in that order; replacing any it had).
  // Throws InvalidArgument for an empty or duplicate name or one outside [a-z0-9_-].
  Vocabulary with_styles(std::vector<std::string> names) const;

  LineKind kind() const { return kind_; }
  std::string stored() const;
  int size() const { return static_cast<int>(chars_.size() + styles_.size()); }
  const std::vector<std::string>& styles() const { return styles_; }
  // The id of a style symbol (-1 when the vocabulary has no such style).
  int style_id(std::string_view name) const;
  // Whether an id is a style symbol (never drawn when composing, never in a line's text).
  bool is_style(int id) const { return id >= static_cast<int>(chars_.size()); }
  // Whether `style` may condition this vocabulary's model: one of its styles when it has
  // some (required), "" when it has none. Throws InvalidArgument listing the styles.
  void check_style(std::string_view style) const;
  // The styles as "bach, mozart" (error messages).
  std::string style_list() const;
  const std::string& chars() const { return chars_; }
  int id(char c) const { return id_[static_cast<unsigned char>(c)]; }  // -1 if absent
  char symbol(int id) const { return chars_.at(static_cast<std::size_t>(id)); }
  int start_id() const { return static_cast<int>(chars_.size()) - 2; }
  int end_id() const { return static_cast<int>(chars_.size()) - 1; }
  // Native grammar index (melody: encode/grammar.h, harmony: encode::native_harmony) of
  // an id (-1 for a style symbol), and the id of a grammar index (-1).
  int grammar_index(int id) const;
  int id_of_grammar_index(int index) const { return from_grammar_[index]; }
  // Ids of a line; throws InvalidArgument naming the first char not in the set.
  std::vector<std::int32_t> ids(std::string_view line) const;
  // The same with the symbol of `style` after the leading '<' ("" = none, as ids(line));
  // throws InvalidArgument listing the styles for one the vocabulary lacks, or a line that
  // does not start with '<'.
  std::vector<std::int32_t> ids(std::string_view line, std::string_view style) const;
  std::string text(const std::vector<std::int32_t>& ids) const;
  bool covers(const CorpusMelody& m) const;  // every char of m.text is in the set

 private:
  void index();
  std::string chars_;
  std::vector<std::string> styles_;
  LineKind kind_ = LineKind::melody;
  int id_[256] = {};
  int from_grammar_[64] = {};
};

struct CorpusStats {
  std::size_t lines = 0;
  std::size_t melodies = 0;  // kept (decoded to at least one note)
  std::size_t dropped = 0;   // lines that decoded to nothing
  std::size_t repaired = 0;  // lines whose decode skipped invalid symbols
  std::size_t symbols = 0;   // canonical symbols, markers included
  std::size_t notes = 0;
  std::size_t sources = 0;  // distinct source files
};

struct Split {
  std::vector<CorpusMelody> train;
  std::vector<CorpusMelody> valid;
  std::vector<std::string> valid_sources;
};

class Corpus {
 public:
  // Decodes every line with the native codec of its kind (invalid symbols skipped,
  // counted in stats().repaired; empty results dropped). Lines without a source get
  // "(unknown)". Throws InvalidArgument when the entries mix melodies and harmonies.
  static Corpus from_entries(const std::vector<CorpusEntry>& entries);

  LineKind kind() const { return kind_; }
  const std::vector<CorpusMelody>& melodies() const { return melodies_; }
  const CorpusStats& stats() const { return stats_; }
  // Distinct sources in first-appearance order.
  std::vector<std::string> sources() const;
  // round(fraction * sources) files (>= 1 when fraction > 0 and there are >= 2 files,
  // never all) go to validation, chosen by a Fisher-Yates shuffle of the sorted source
  // names on lstm::Rng(seed). fraction 0: everything is training data.
  Split split_by_source(double fraction, std::uint64_t seed) const;
  // 64-bit FNV-1a over the canonical lines (and sources): identifies the data in manifests.
  static std::uint64_t hash(const std::vector<CorpusMelody>& melodies);

 private:
  std::vector<CorpusMelody> melodies_;
  CorpusStats stats_;
  LineKind kind_ = LineKind::melody;
};

// A training window: symbols [length] from whole melodies, starting at a melody start
// (continuation windows of a long melody start mid-melody). inputs = symbols[0..n-2],
// targets = symbols[1..n-1].
struct Window {
  std::vector<std::int32_t> symbols;  // n <= window + 1 symbols
  bool starts_melody = true;
};

// Packs melodies (in order) into windows of at most `window` predictions (window + 1
// symbols): as many whole melodies as fit; a melody longer than a window is cut into
// consecutive windows that overlap by one symbol. Throws InvalidArgument for
// window < 2 or a melody with a char outside vocab.
std::vector<Window> make_windows(const std::vector<CorpusMelody>& melodies, const Vocabulary& vocab,
                                 int window);

// Id sequences of melodies for n-gram models: the canonical symbols WITHOUT the markers
// ('<' is the n-gram start padding, '>' its end symbol), ids as in vocab (markers are the
// last two symbol ids, so the n-gram vocabulary is vocab.chars().size() - 2; a style is not
// part of the sequence).
std::vector<std::vector<int>> ngram_sequences(const std::vector<CorpusMelody>& melodies,
                                              const Vocabulary& vocab);

}  // namespace melodl::pipeline
