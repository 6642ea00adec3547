// web/compose_request.h: the body of `melodl serve`'s POST /api/compose (docs/serve.md
// "API"), parsed and checked before any work is queued: every field has a type and a
// range, an unknown field is refused, and each refusal names its field
// ("count: must be an integer from 1 to 16, got 1000") with the HTTP status to answer
// (400, or 413 for a primer over its size cap). Also turns the primer, notes played on the
// page's keyboard, into what the model takes: a prime for a melody model (the notes'
// rhythm quantised to the duration units of the tempo) or the voice to accompany for a
// harmony model (sampled on its 1/16 s grid).
//
// Example:
//   web::ComposeRequest r = web::parse_compose_request(body, {});  // throws RequestError
//   encode::SymbolMelody m = web::primer_melody(r.primer, r.tempo);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "encode/harmony.h"
#include "encode/melody.h"

namespace melodl::web {

// A refused request: the message names the field; status is 400 or 413.
class RequestError : public InvalidArgument {
 public:
  RequestError(int status, const std::string& message)
      : InvalidArgument(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct PrimerNote {
  int pitch = 60;         // MIDI key 0..127
  double start = 0.0;     // seconds from the first note (any origin; sorted on parsing)
  double duration = 0.5;  // seconds, > 0
};

struct RequestLimits {
  int max_length = 2000;        // generated symbols per piece
  int max_count = 16;           // pieces per request
  int max_primer_notes = 256;   // more: 413
  double max_primer_s = 120.0;  // the primer's span
  void validate() const;        // throws InvalidArgument naming the field
};

struct ComposeRequest {
  std::string model;               // required: a name of GET /api/models
  std::vector<PrimerNote> primer;  // may be empty; also from "primer_midi" (below)
  double temperature = 1.0;        // 0 (greedy) .. 5
  int top_k = 0;                   // 0 = all symbols
  int length = 300;                // generated symbols per piece (a harmony with a primer:
                                   // two per 1/16 s step of the primer, whatever this is)
  int count = 1;
  std::uint64_t seed = 1;  // 0 .. 2^53 - 1: the same seed gives the same pieces
  int program = 0;         // General MIDI program (harmony: the lower voice)
  int upper_program = 24;  // harmony: the upper voice
  double tempo = 100.0;    // melody models: beats per minute (8 duration units a beat)
  std::string style;       // a style-conditioned model: one of its styles (GET /api/models)
};

// Parses and checks a POST /api/compose body (JSON object; absent fields keep their
// defaults). "primer_midi" (instead of "primer"): a MIDI file in base64; its highest voice
// (encode::split_voices) becomes the primer, its first max_primer_notes notes within
// max_primer_s seconds. Throws RequestError.
ComposeRequest parse_compose_request(const std::string& body, const RequestLimits& limits);

// The notes of the highest voice of a MIDI file (base64), as a primer; throws RequestError
// naming "primer_midi" when it is not base64, not a MIDI file, or has no notes.
std::vector<PrimerNote> primer_from_midi(const std::string& base64, const RequestLimits& limits);

// The primer as a melody at `bpm` (8 duration units a beat): each note lasts until the
// next one starts (or its own end, when that is earlier, leaving a rest), durations
// rounded to units and clamped to 0..31, intervals folded by octaves into [-12, 12]. The
// first note's pitch is the start pitch of the composition. Empty primer: no steps.
encode::SymbolMelody primer_melody(const std::vector<PrimerNote>& primer, double bpm);

// The primer as a voice on the harmony grid (1/16 s steps), pitches folded into the
// harmony range: the upper voice a harmony model accompanies. Empty primer: none.
std::vector<encode::HarmonySample> primer_voice(const std::vector<PrimerNote>& primer);

}  // namespace melodl::web
