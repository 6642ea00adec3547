// web/compose_pieces.cpp: see compose_pieces.h.
#include "web/compose_pieces.h"

#include <chrono>

#include "encode/melody_song.h"
#include "pipeline/composing.h"

namespace melodl::web {

namespace pl = melodl::pipeline;

Composed compose_pieces(const lstm::Network& net, const pipeline::Vocabulary& vocab,
                        const ComposeRequest& r) {
  const bool harmony = vocab.kind() == pl::LineKind::harmony;
  pl::ComposeOptions o;
  o.count = r.count;
  o.length = r.length;
  o.temperature = static_cast<float>(r.temperature);
  o.top_k = r.top_k;
  o.seed = r.seed;
  o.style = r.style;
  if (vocab.styles().empty() && !r.style.empty())
    throw RequestError(400, "style: this model is not style-conditioned (leave style out)");
  if (!vocab.styles().empty()) {
    if (r.style.empty())
      throw RequestError(400, "style: missing: this model composes in one of its styles (" +
                                  vocab.style_list() + ")");
    if (vocab.style_id(r.style) < 0)
      throw RequestError(400, "style: '" + r.style.substr(0, 64) +
                                  "' is not one of this model's styles (" + vocab.style_list() +
                                  ")");
  }
  int start_pitch = 60;
  std::size_t primer_notes = 0;
  if (!r.primer.empty() && !harmony) {
    o.prime = pl::prime_from_melody(primer_melody(r.primer, r.tempo), r.primer.size());
    start_pitch = r.primer.front().pitch;
    primer_notes = r.primer.size();
  } else if (!r.primer.empty()) {
    o.accompany = primer_voice(r.primer);
    o.length = static_cast<int>(2 * o.accompany.size() + 1);
  }
  Composed out;
  pl::ComposeStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<pl::Composition> pieces;
  try {
    pieces = pl::compose(net, vocab, o, &stats);
  } catch (const lstm::InvalidArgument& e) {
    throw RequestError(400, std::string("request: ") + e.what());
  } catch (const InvalidArgument& e) {
    throw RequestError(400, std::string(r.primer.empty() ? "request: " : "primer: ") + e.what());
  }
  out.reply.compose_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  out.reply.clean = stats.clean;
  for (const pl::Composition& p : pieces) {
    midi::Song song;
    if (harmony) {
      encode::HarmonyRenderOptions ro;
      ro.programs = {r.program, r.upper_program};
      ro.ticks_per_step = 0.0625 / ro.seconds_per_tick;
      song = encode::harmony_to_song(p.harmony.harmony, ro);
    } else {
      encode::MelodySongOptions so;
      so.program = r.program;
      so.start_pitch = start_pitch;
      so.bpm = r.tempo;
      song = encode::melody_to_song(p.decoded.melody, so);
    }
    PieceOut piece{p.text, p.finished, {}, {}, {}};
    for (std::size_t t = 0; t < song.tracks.size(); ++t)
      for (std::size_t i = 0; i < song.tracks[t].notes.size(); ++i) {
        const midi::Note& n = song.tracks[t].notes[i];
        const bool given = harmony ? !o.accompany.empty() && t == 1 : i < primer_notes;
        piece.notes.push_back({n.pitch, n.start_s, n.end_s, static_cast<int>(t), given});
      }
    out.reply.pieces.push_back(std::move(piece));
    out.songs.push_back(std::move(song));
  }
  return out;
}

}  // namespace melodl::web
