// web/compose_pieces.h: composing the pieces of one compose request with a network and its
// vocabulary (pipeline::compose), turned into MIDI songs and the notes the pages draw: the
// work of `melodl serve`'s POST /api/compose (compose_server.cpp) and of the live view's
// "compose now" (compose_now.h), which composes with a copy of the weights being trained.
//
// Example:
//   web::Composed c = web::compose_pieces(net, vocab, request);  // throws RequestError
//   nlohmann::json j = c.reply;  // {"pieces": [{"notes": [...], ...}], ...}
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lstm/network.h"
#include "midi/model.h"
#include "pipeline/corpus.h"
#include "web/compose_request.h"

namespace melodl::web {

struct NoteOut {
  int pitch = 60;
  double start = 0, end = 0;
  int voice = 0;        // track: 0 a melody or a harmony's lower voice, 1 the upper voice
  bool primer = false;  // played by the user (a melody's primer, the voice accompanied)
};
struct PieceOut {
  std::string symbols;  // the native line, primer included
  bool finished = false;
  std::vector<NoteOut> notes;
  std::string midi, wav;  // URLs ("" = none: JSON null)
};
struct ComposeReply {
  std::string id, model, kind;
  std::uint64_t seed = 0;
  double compose_ms = 0;  // sampling time on the worker
  std::size_t clean = 0;  // pieces decoded cleanly
  std::vector<PieceOut> pieces;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NoteOut, pitch, start, end, voice, primer)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PieceOut, symbols, finished, notes, midi, wav)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ComposeReply, id, model, kind, seed, compose_ms, clean, pieces)

// The songs of the pieces: a melody at the request's tempo from the primer's first pitch, a
// harmony on the 1/16 s grid; and their notes for the page (reply: all but id, model, kind,
// seed and the file URLs, which the caller fills in).
struct Composed {
  std::vector<midi::Song> songs;
  ComposeReply reply;
};

// Composes r.count pieces; a request the model cannot take (e.g. a primer outside its
// vocabulary) throws RequestError 400 naming "request" or "primer".
Composed compose_pieces(const lstm::Network& net, const pipeline::Vocabulary& vocab,
                        const ComposeRequest& r);

}  // namespace melodl::web
