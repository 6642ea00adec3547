// examples/live_view.cpp: see live_view.h.
#include "examples/live_view.h"

#include <cstdio>

#include "encode/harmony.h"
#include "examples/cli_error.h"
#include "web/compose_now.h"

namespace melodl::cli {

void add_live_view_options(CLI::App& sub, LiveViewFlags& f) {
  f.option = sub.add_option("--viz", f.port,
                            "Live 3D view of the gradients in the browser on this port (default "
                            "8765, 0 = any free port); see docs/viz.md")
                 ->expected(0, 1);
  sub.add_option("--viz-samples", f.samples, "Parameters shown per parameter array")
      ->capture_default_str();
  sub.add_option("--viz-rate", f.rate, "Most snapshots per second sent to the view")
      ->capture_default_str();
  sub.add_option("--viz-bind", f.bind,
                 "Address the view listens on (other than 127.0.0.1: reachable from the network)")
      ->capture_default_str();
}

LiveView::LiveView(const LiveViewFlags& flags, std::uint64_t seed)
    : flags_(flags), options_{flags.samples, flags.rate, seed} {
  if (!flags.port.empty()) {
    try {
      port_ = std::stoi(flags.port);
    } catch (const std::exception&) {
      throw UsageError("--viz: expected a port number, got '" + flags.port +
                       "' (write --viz=PORT, or put --viz after the inputs)");
    }
  }
  if (port_ < 0 || port_ > 65535) throw UsageError("--viz: port out of range: " + flags.port);
  try {
    options_.validate();
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(e.what());
  }
}

void LiveView::start(const pipeline::TrainSession& session, std::atomic<bool>* stop) {
  if (flags_.option->count() == 0) return;
  try {
    options_.seed = session.config().settings.seed;
    listener_ = std::make_unique<web::VizListener>(session.training().network().layout(), options_);
    listener_->set_stop_flag(stop);
  } catch (const lstm::InvalidArgument&) {
    throw;  // (exit 1, as before)
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(e.what());
  }
  if (flags_.bind != "127.0.0.1" && flags_.bind != "localhost" && flags_.bind != "::1")
    std::fprintf(stderr,
                 "melodl train: warning: --viz-bind %s exposes the view and its pause/resume "
                 "and learning-rate controls to the network, without authentication\n",
                 flags_.bind.c_str());
  try {
    web::ComposeNowModel model{session.training().network().config(),
                               session.training().vocabulary()};
    server_ = std::make_unique<web::VizServer>(*listener_, flags_.bind, port_, web::ServerLimits{},
                                               web::compose_now_handler(*listener_, model));
  } catch (const std::runtime_error& e) {
    throw Error(e.what());
  }
  std::printf(
      "melodl viz: serving on %s (open it in a browser; from another machine: ssh -L "
      "%d:localhost:%d HOST)\n",
      server_->url().c_str(), server_->port(), server_->port());
  std::fflush(stdout);
}

void LiveView::attach(pipeline::TrainCallbacks& cb) {
  if (!listener_) return;
  cb.step_end = [this](std::span<const float> params, std::span<const float> grads,
                       std::int64_t step, double loss_nats,
                       double lr) { listener_->on_step(params, grads, step, loss_nats, lr); };
  cb.take_lr = [this] { return listener_->take_requested_lr(); };
}

void LiveView::on_epoch(const pipeline::EpochMetrics& m,
                        const std::vector<pipeline::Composition>& samples,
                        pipeline::LineKind kind) {
  if (!listener_) return;
  std::vector<encode::SymbolMelody> melodies;
  for (const auto& c : samples)
    melodies.push_back(kind == pipeline::LineKind::harmony
                           ? encode::voice_melody(c.harmony.harmony.upper)
                           : c.decoded.melody);
  listener_->on_epoch(m.epoch, m.valid_bits_per_symbol, melodies);
}

}  // namespace melodl::cli
