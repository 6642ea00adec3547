// examples/live_view.h: `melodl train --viz`: the live 3D view of training in the browser
// (web/, docs/viz.md): its flags, their checks before any work, and the listener and server
// hooked into the training callbacks (the server stops before the listener).
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/train_session.h"
#include "web/viz_server.h"

namespace melodl::cli {

struct LiveViewFlags {
  CLI::Option* option = nullptr;  // --viz [PORT]; given = the view is on
  std::string port;
  int samples = 64;
  double rate = 10;
  std::string bind = "127.0.0.1";
};

void add_live_view_options(CLI::App& sub, LiveViewFlags& flags);

class LiveView {
 public:
  // Checks the flags (cli::UsageError), before any work.
  LiveView(const LiveViewFlags& flags, std::uint64_t seed);
  // Serves the view of the session's network when --viz was given; `stop` is the training's
  // stop flag (the page's stop button).
  void start(const pipeline::TrainSession& session, std::atomic<bool>* stop);
  // Feeds the view from the training (step_end, take_lr) when it is on.
  void attach(pipeline::TrainCallbacks& callbacks);
  // After each epoch: its samples (a harmony's upper voice stands in for a melody).
  void on_epoch(const pipeline::EpochMetrics& m, const std::vector<pipeline::Composition>& samples,
                pipeline::LineKind kind);

 private:
  const LiveViewFlags& flags_;
  int port_ = 8765;
  web::ListenerOptions options_;
  std::unique_ptr<web::VizListener> listener_;
  std::unique_ptr<web::VizServer> server_;
};

}  // namespace melodl::cli
