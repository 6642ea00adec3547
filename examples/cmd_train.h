// examples/cmd_train.h: helpers shared by `melodl train`, `compose` and `eval` (defined
// in cmd_train.cpp, load_model in cmd_compose.cpp): loading melody lines from melodies files or
// MIDI inputs, writing generated melodies as a melodies file and as MIDI/WAV files.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lstm/checkpoint.h"
#include "pipeline/audio.h"
#include "pipeline/composing.h"
#include "pipeline/corpus.h"

namespace melodl::cli {

// Each input: a directory or a MIDI file (extracted on the fly with the encode defaults,
// native format) or a melodies file from `melodl extract` (must be native format).
// With kind == harmony: two-part harmonies instead (MIDI extracted with the harmony
// defaults; harmonies files of `melodl extract --harmonies` in the native or the
// original-harmony format, converted to native; a harmonies file without a header is read
// as native when it holds a '<', else as original-harmony).
// Throws cli::Error naming a missing/unreadable input, a non-native melodies file, or a
// file of the other kind (with the flag that reads it).
std::vector<pipeline::CorpusEntry> load_corpus_entries(
    const std::vector<std::string>& inputs, unsigned jobs, bool quiet,
    pipeline::LineKind kind = pipeline::LineKind::melody);

// The corpus of `inputs`; throws cli::Error naming the inputs when no line is usable.
pipeline::Corpus load_corpus(const std::vector<std::string>& inputs, unsigned jobs, bool quiet,
                             pipeline::LineKind kind = pipeline::LineKind::melody);

// The kind of lines a melodies/harmonies file holds by its header (melody when it has no
// harmonies header or is a MIDI file / folder).
pipeline::LineKind input_kind(const std::string& input);

struct GeneratedMelody {
  std::string text;    // native line
  std::string source;  // provenance, e.g. "compose sample 3" or "train epoch 2 sample 1"
  int program = 0;
  int start_pitch = 60;
};

// A melodies file (header + provenance comment + line each) readable by render/match.
std::string melodies_file_text(const std::vector<GeneratedMelody>& melodies);

struct PlaybackOptions {
  int program = 0;
  int start_pitch = 60;
  double bpm = 100.0;
};

// Writes <dir>/<stem>.mid (and .wav when renderer is set); returns false (writing
// nothing) for a melody that decodes to no note.
bool write_playback(const std::filesystem::path& dir, const std::string& stem,
                    const encode::SymbolMelody& melody, const PlaybackOptions& options,
                    pipeline::WavRenderer* renderer);

// Two-part harmonies: a harmonies file (header + provenance comment + native line each),
// readable by `melodl train --harmonies`, `match` and `render`.
std::string harmonies_file_text(const std::vector<GeneratedMelody>& harmonies);

struct HarmonyPlaybackOptions {
  int lower_program = 0;         // General MIDI program of the lower voice (piano, as the original)
  int upper_program = 24;        // of the upper voice (nylon guitar, as the original)
  double step_seconds = 0.0625;  // one sampling step (the extraction grid: 1/16 s)
};

// Writes <dir>/<stem>.mid, a two-track file (lower voice on track/channel 0, upper on 1),
// and .wav when renderer is set; returns false (writing nothing) for a harmony without a
// note.
bool write_harmony_playback(const std::filesystem::path& dir, const std::string& stem,
                            const encode::SymbolHarmony& harmony,
                            const HarmonyPlaybackOptions& options, pipeline::WavRenderer* renderer);

// A trained model: a checkpoint file, or a run directory (its latest good checkpoint,
// falling back to older ones). Throws cli::Error naming the file: missing, damaged, or
// not a melody model. Defined in cmd_compose.cpp.
struct LoadedModel {
  std::filesystem::path path;
  lstm::LoadedCheckpoint checkpoint;
  pipeline::Vocabulary vocab;
};
LoadedModel load_model(const std::string& where, bool quiet);

// "10m", "45s", "1h30m", "90" (seconds), "500ms" -> seconds; throws cli::UsageError.
double parse_duration(const std::string& text, const std::string& flag);

}  // namespace melodl::cli
