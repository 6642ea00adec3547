// encode/harmony.h: two-part harmonies (MELODL4J's "harmonies" example, redone).
// Voice split of a midi::Song into monophonic single-instrument voices, selection of
// voice pairs by length/activity/gap filters, a time-sampled two-voice encoding
// (lower voice at even positions, upper at odd), two string codecs (melodl's native
// harmony format and the original's "original-harmony"), the native harmony grammar
// for constrained sampling, and rendering back to notes / a two-track Song.
// Spec: docs/formats.md "Two-part harmonies". Tests: tests/encode/harmony_test.cpp.
// Depends only on midi/model.h.
//
// Example:
//   auto res = melodl::encode::extract_harmonies(song);          // original's defaults
//   for (const auto& h : res.harmonies)
//     out << melodl::encode::native_harmony_codec().encode(h.harmony) << "\n";
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "encode/melody.h"
#include "midi/model.h"

namespace melodl::encode {

inline constexpr int kHarmonyLowest = 36;   // C2: lowest pitch of the encoding
inline constexpr int kHarmonyHighest = 84;  // C6: highest pitch (49 pitches)
inline constexpr int kHarmonyPitches = kHarmonyHighest - kHarmonyLowest + 1;

// One sampled step of one voice: a rest (pitch < 0), or a sounding pitch with whether
// the note starts at this step (onset) or continues from the previous step (hold).
struct HarmonySample {
  int pitch = -1;  // MIDI pitch; -1 = rest
  bool onset = false;
  bool rest() const { return pitch < 0; }
  bool operator==(const HarmonySample&) const = default;
};

// Two voices sampled on the same grid; lower.size() == upper.size().
struct SymbolHarmony {
  std::vector<HarmonySample> lower;  // even positions of a line
  std::vector<HarmonySample> upper;  // odd positions
  std::size_t steps() const { return lower.size(); }
  bool operator==(const SymbolHarmony&) const = default;
};

// Pitch folded by octaves into [lowest, highest] (which must span at least an octave).
int fold_pitch(int pitch, int lowest = kHarmonyLowest, int highest = kHarmonyHighest);

// The canonical form every codec decodes to: pitches folded into [36, 84]; a step
// that is not a rest is an onset unless the previous step of that voice holds the same
// pitch (a "hold" after a rest or of another pitch becomes an onset); rest.onset false.
// Throws InvalidArgument when the voices differ in length.
SymbolHarmony normalize(SymbolHarmony h);

// MELODL4J's removeSilences(line, 16) on steps: walking the steps, when this and the
// next 7 steps are rests in both voices, 4 steps are skipped; otherwise the step is
// kept. (Applies only where 8 steps are left.)
SymbolHarmony remove_silences(const SymbolHarmony& h, int window_steps = 8, int skip_steps = 4);

// ---------------------------------------------------------------------------
// Voices and extraction

struct HarmonyOptions {
  // Pair filters (MELODL4J defaults).
  int min_notes = 100;              // both voices at least this many notes
  double min_activity = 0.25;       // each voice's sounding ticks / the later end tick
  double max_gap = 0.10;            // each voice's longest gap (incl. leading) / its own end tick
  std::vector<int> lower_programs;  // if not empty, the lower voice's program must be one
  std::vector<int> upper_programs;  // if not empty, the upper voice's program must be one
  // Note parsing.
  bool skip_percussion = true;       // channel index 9
  bool legato_fix = true;            // MELODL4J v2: close gaps / small overlaps per list
  double legato_max_overlap = 0.25;  // |a∩b| / |a∪b| at most this: a.end = b.start
  // Sampling grid. Default: 1/16 s through the song's real tempo map.
  double step_seconds = 0.0625;
  bool average_tempo = false;  // the original: step in ticks from the file's average
                               // microseconds per tick (integer), ignoring tempo changes
  int steps_per_beat = 0;      // > 0: step = PPQ / steps_per_beat ticks (beat-relative)
  // Line post-processing.
  bool remove_silences = true;  // removeSilences (see above)
  int min_steps = 50;           // shorter harmonies dropped (original: lines < 100 chars)
};

enum class HarmonyRejection : int {
  too_few_notes,  // a voice has fewer than min_notes notes
  low_activity,   // a voice sounds for less than min_activity of the later end
  gap_too_long,   // a voice's longest gap exceeds max_gap of its own end
  instruments,    // program not in lower_programs / upper_programs
  too_short,      // fewer than min_steps steps after sampling and remove_silences
  count_
};
const char* to_string(HarmonyRejection r);

// A monophonic, single-instrument voice.
struct HarmonyVoice {
  int program = 0;
  std::vector<midi::Note> notes;  // start order, non-overlapping
  double mean_pitch = 0.0;
  std::int64_t end_tick = 0;           // end of the last note
  std::int64_t sounding_ticks = 0;     // sum of note lengths
  std::int64_t longest_gap_ticks = 0;  // incl. the leading silence from tick 0
};

struct ExtractedHarmony {
  std::string source;
  int lower_voice = 0;  // indices into HarmonyResult::voices
  int upper_voice = 0;
  int lower_program = 0;
  int upper_program = 0;
  double step_seconds = 0.0;  // mean seconds per step over the sampled span
  double step_ticks = 0.0;    // ticks per step (0 with the tempo-map grid)
  SymbolHarmony harmony;      // normalized
};

struct HarmonyStats {
  std::size_t files = 0;
  std::size_t voices = 0;
  std::size_t pairs = 0;  // candidate pairs: voices * (voices - 1) / 2 per file
  std::size_t kept = 0;
  std::array<std::size_t, static_cast<int>(HarmonyRejection::count_)> rejected{};
  HarmonyStats& operator+=(const HarmonyStats& o);
};

struct HarmonyResult {
  std::vector<HarmonyVoice> voices;  // by mean pitch, ascending
  std::vector<ExtractedHarmony> harmonies;
  HarmonyStats stats;  // files = 1
};

// Voices of a song, built greedily: all notes (percussion skipped, legato fix applied,
// zero-length notes dropped) sorted by (start, pitch, channel); each joins the first
// voice of the same program whose last note ends at or before its start, else opens a
// new voice. Voices are then stable-sorted by mean pitch ascending.
std::vector<HarmonyVoice> split_voices(const midi::Song& song, const HarmonyOptions& options = {});

// Voice pairs (i < j: i lower, j upper) passing the filters, sampled. A pair is
// rejected by the first failing filter in HarmonyRejection order. Throws
// InvalidArgument for a non-positive step, min_notes < 0 or a NaN/negative fraction.
HarmonyResult extract_harmonies(const midi::Song& song, const HarmonyOptions& options = {});

// The sampling on its own (used by "accompany"): the voice's notes on the grid of
// `options` for `steps` steps (0 = until the last note ends); pitches folded.
std::vector<HarmonySample> sample_voice(const midi::Song& song,
                                        const std::vector<midi::Note>& notes,
                                        const HarmonyOptions& options, std::size_t steps = 0);

// ---------------------------------------------------------------------------
// Codecs

struct HarmonyDecodeResult {
  SymbolHarmony harmony;        // normalized; equal lengths
  std::size_t skipped = 0;      // symbols ignored (not in the alphabet, or out of place)
  std::size_t substituted = 0;  // native: a hold with nothing to hold, read as a rest
};

class HarmonyCodec {
 public:
  virtual ~HarmonyCodec() = default;
  virtual std::string_view name() const = 0;  // "native" or "original-harmony"
  // One harmony as one line (no newline); the harmony is normalized first. Throws
  // InvalidArgument when the voices differ in length or it is empty.
  virtual std::string encode(const SymbolHarmony& harmony) const = 0;
  virtual HarmonyDecodeResult decode(std::string_view line) const = 0;
  virtual std::vector<char> alphabet() const = 0;  // the vocabulary, in index order
};

const HarmonyCodec& native_harmony_codec();
const HarmonyCodec& original_harmony_codec();
// "native" or "original-harmony"; throws InvalidArgument otherwise.
const HarmonyCodec& harmony_codec_by_name(std::string_view name);

// Symbol indices of the native harmony alphabet (53 symbols).
namespace native_harmony {
inline constexpr int kOnsetBase = 0;  // 0..48: onset of pitch 36..84, 'A'..'Z' 'a'..'w'
inline constexpr int kHold = 49;      // '-'
inline constexpr int kRest = 50;      // '.'
inline constexpr int kStart = 51;     // '<'
inline constexpr int kEnd = 52;       // '>'
inline constexpr int kAlphabetSize = 53;
constexpr bool is_onset(int s) { return s >= kOnsetBase && s < kOnsetBase + kHarmonyPitches; }
constexpr int onset_symbol(int pitch) { return kOnsetBase + pitch - kHarmonyLowest; }
constexpr int pitch_of(int s) { return s - kOnsetBase + kHarmonyLowest; }
char symbol_char(int symbol);  // throws InvalidArgument outside 0..52
int symbol_index(char c);      // -1 when not in the alphabet
}  // namespace native_harmony

// The native harmony grammar as an automaton for constrained sampling:
//   line = "<" pair { pair } ">" ;  pair = lower upper ;
//   lower, upper = onset | "." | "-" ;  "-" only when that voice's previous step sounds.
// The parity (lower at even positions) is kept by construction: '>' only after a pair.
class HarmonyGrammar {
 public:
  bool complete() const { return done_; }
  bool started() const { return started_; }
  std::size_t position() const { return position_; }  // step symbols read
  bool lower_next() const { return position_ % 2 == 0; }
  void reset() { *this = HarmonyGrammar(); }
  bool allows(int symbol) const;
  std::vector<bool> allowed() const;
  void allowed(std::vector<bool>& mask) const;  // resized to kAlphabetSize
  void advance(int symbol);                     // throws InvalidArgument when !allows(symbol)
  int symbols_to_complete() const;              // fewest symbols to a complete line

 private:
  bool started_ = false;
  bool done_ = false;
  std::size_t position_ = 0;
  std::array<bool, 2> sounding_{false, false};  // may the voice hold
};

// The native symbol index of every step of one voice (normalized first: pitches folded,
// onsets where a note starts): an onset symbol, kHold or kRest.
std::vector<int> native_voice_symbols(const std::vector<HarmonySample>& voice);

// One voice as a melody (encode/melody.h), for the melody tools (novelty, alignment,
// style): each note becomes a step of duration index min(steps, 32) - 1 (a step is one
// duration unit) with its interval from the previous note folded into [-12, 12]; each run
// of rest steps a rest of the same length rule. Leading and trailing rests are dropped,
// and a voice without notes gives an empty melody. (Normalized first: a hold after a rest
// or of another pitch starts a note.)
SymbolMelody voice_melody(const std::vector<HarmonySample>& voice);

// "Accompany a melody": the native harmony grammar with the upper voice fixed. Odd
// positions allow only the given upper voice's symbol; even positions (the lower voice)
// whatever the grammar allows; '>' only once every upper step is placed, and then
// nothing else. A sampler masking with allowed() composes a lower voice under the given
// upper voice; the line decodes to exactly that upper voice (tested).
// Note the order: the lower symbol of step k is drawn before the upper symbol of step k
// is fed, so the network hears the given melody up to step k - 1 when choosing step k.
class AccompanyGrammar {
 public:
  // Throws InvalidArgument for an empty upper voice.
  explicit AccompanyGrammar(const std::vector<HarmonySample>& upper);
  bool complete() const { return grammar_.complete(); }
  std::size_t steps() const { return upper_.size(); }
  const HarmonyGrammar& grammar() const { return grammar_; }
  bool allows(int symbol) const;
  void allowed(std::vector<bool>& mask) const;  // resized to kAlphabetSize
  void advance(int symbol);                     // throws InvalidArgument if !allows
  // The one symbol allowed at an upper position (-1 at a lower position or when done).
  int forced() const;

 private:
  std::vector<int> upper_;
  HarmonyGrammar grammar_;
};

// ---------------------------------------------------------------------------
// Rendering

struct HarmonyRenderOptions {
  double ticks_per_step = 60.0;  // 480 PPQ at 120 bpm: 1/16 s = 60 ticks
  int velocity = 80;
  double seconds_per_tick = 0.5 / 480.0;
  std::array<int, 2> programs{0, 24};  // lower: piano, upper: nylon guitar (the original)
  std::array<int, 2> channels{0, 1};
};

// Notes of one voice: an onset starts a note, holds of the same pitch extend it, a rest
// or another onset ends it. Throws InvalidArgument for ticks_per_step <= 0,
// a velocity outside 1..127 or a channel outside 0..15.
std::vector<midi::Note> harmony_voice_notes(const std::vector<HarmonySample>& voice, int channel,
                                            const HarmonyRenderOptions& options = {});

// A two-track song at 480 PPQ, 120 bpm: track 0 the lower voice, track 1 the upper, each
// with its program change at tick 0. (midi/writer.h writes it.)
midi::Song harmony_to_song(const SymbolHarmony& harmony, const HarmonyRenderOptions& options = {});

}  // namespace melodl::encode
