// web/compose_now.h: the live view's "compose now" button (docs/viz.md): POST
// /api/compose-now on the `melodl train --viz` server composes one piece with a copy of the
// weights being trained. The copy is taken by the training thread between two updates
// (VizListener::request_weights), made into a CPU network, and sampled with the run's
// vocabulary by compose_pieces (as `melodl serve` does). The route is one of VizServer's
// POST routes (Origin/Host/token checks); VizServer answers 429 while one is composing.
//
// Example:
//   web::VizServer server(listener, "127.0.0.1", 0, {},
//                         web::compose_now_handler(listener, {net.config(), vocab}));
#pragma once

#include <chrono>

#include "lstm/network.h"
#include "pipeline/corpus.h"
#include "web/compose_request.h"
#include "web/listener.h"
#include "web/server.h"

namespace melodl::web {

struct ComposeNowModel {
  lstm::NetworkConfig network;            // of the network being trained
  pipeline::Vocabulary vocab;             // the run's
  std::chrono::milliseconds wait{10000};  // for the training thread's copy; longer: 503
};

// The handler of POST /api/compose-now. Body: empty, or a JSON object with the fields of
// POST /api/compose (compose_request.h) but "model", which is not needed, and count 1 (the
// default). Answers the reply of /api/compose (its "model" "training", "step" the update the
// weights are from) with "midi", the piece's MIDI file as a data: URL; 400 naming a bad
// field; 503 when the training thread does not hand over its weights within model.wait
// (e.g. while it validates) or has ended.
Handler compose_now_handler(VizListener& listener, ComposeNowModel model);

}  // namespace melodl::web
