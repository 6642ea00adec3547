// examples/cmd_serve.cpp: `melodl serve MODELS...`: compose in the browser. Serves the
// composer page (web/static/compose.*) and its API for every model given (run directories,
// checkpoint files, or folders of them; shipped models by --model NAME; with none given,
// every shipped model) until Ctrl-C or SIGTERM. The server lives in
// web/compose_server.h; docs/serve.md describes the page, the API and the limits.
// Usage: melodl serve runs/bach runs/bach-harmonies --port 8766
//        melodl serve                 (every shipped model: bach, folk, composers, bach-duets)
//        (from another machine: ssh -L 8766:localhost:8766 HOST, then open the URL)
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/flags.h"
#include "examples/train_flags.h"
#include "pipeline/models.h"
#include "web/compose_server.h"

namespace {

using melodl::cli::add_in_range;
using melodl::cli::Error;
using melodl::cli::UsageError;
namespace web = melodl::web;

struct ServeArgs {
  std::vector<std::string> models;
  std::vector<std::string> shipped;  // --model NAME
  int port = 8766;
  std::string bind = "127.0.0.1";
  int workers = std::max(1, std::min(4, static_cast<int>(std::thread::hardware_concurrency())));
  int queue = 16;
  int max_length = 2000;
  int max_count = 16;
  int file_minutes = 30;
  std::string files_dir;
  std::string soundfont;
  std::string which = "best";  // --checkpoint best|latest
  bool quiet = false;
};

int run_serve(const ServeArgs& a) {
  // Ctrl-C and SIGTERM are taken by sigwait below: blocked here, before any thread starts,
  // so that no server thread receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  web::ComposeServerOptions o;
  o.workers = a.workers;
  o.queue = a.queue;
  o.request.max_length = a.max_length;
  o.request.max_count = a.max_count;
  o.file_ttl_s = a.file_minutes * 60;
  o.files_dir = a.files_dir;
  o.soundfont = a.soundfont;
  // What to serve: the paths given, the --model names, or (neither) every shipped model.
  std::vector<std::string> paths = a.models;
  for (const auto& name : a.shipped)
    paths.push_back(melodl::cli::model_location("", name).string());
  if (a.models.empty() && a.shipped.empty()) {
    for (const auto& m : melodl::pipeline::list_models()) paths.push_back(m.file.string());
    if (paths.empty())
      throw UsageError(
          "give run directories or checkpoint files to serve (no shipped models were found: "
          "`melodl models` says where it looked)");
  }
  web::ServedModels models;
  try {
    models = web::load_served_models(
        paths,
        [&](const std::string& s) {
          if (!a.quiet) std::fprintf(stderr, "melodl serve: warning: %s\n", s.c_str());
        },
        melodl::cli::checkpoint_choice(a.which));
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(e.what());
  }
  if (a.bind != "127.0.0.1" && a.bind != "localhost" && a.bind != "::1")
    std::fprintf(stderr,
                 "melodl serve: warning: --bind %s makes the composer reachable from the "
                 "network, without authentication (an SSH tunnel is safer: docs/serve.md)\n",
                 a.bind.c_str());
  std::unique_ptr<web::ComposeServer> server;
  try {
    server = std::make_unique<web::ComposeServer>(std::move(models), a.bind, a.port, o);
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(e.what());
  }
  if (!a.quiet) {
    for (const auto& m : server->models())
      std::printf("melodl serve: model %s (%s, %d x %d, %s)\n", m->card.name.c_str(),
                  m->card.kind.c_str(), m->card.layers, m->card.hidden, m->model.path.c_str());
    if (!server->wav_available())
      std::printf(
          "melodl serve: no soundfont: pieces come as MIDI only (apt-get install "
          "fluid-soundfont-gm)\n");
  }
  std::printf(
      "melodl serve: serving on %s (open it in a browser; from another machine: ssh -L "
      "%d:localhost:%d HOST)\n",
      server->url().c_str(), server->port(), server->port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  if (!a.quiet) std::printf("melodl serve: stopping (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server.reset();
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<ServeArgs>();
  sub.add_option("models", a->models,
                 "Run directories (their best checkpoint, see --checkpoint), checkpoint files, or "
                 "folders of them (none and no --model: every shipped model)");
  sub.add_option("--model", a->shipped,
                 "A shipped pretrained model to serve, by name (repeatable; `melodl models`)");
  add_in_range(sub, "--port", a->port, "Port to listen on (0 = any free port)", 0, 65535);
  sub.add_option("--bind", a->bind,
                 "Address to listen on (other than 127.0.0.1: reachable from the network)")
      ->capture_default_str();
  add_in_range(sub, "--workers", a->workers, "Threads composing and rendering", 1, 256);
  add_in_range(sub, "--queue", a->queue,
               "Requests waiting for a worker; beyond that the server answers 429", 0, 256);
  add_in_range(sub, "--max-length", a->max_length, "Most symbols a request may ask for", 4,
               1000000);
  add_in_range(sub, "--max-count", a->max_count, "Most pieces a request may ask for", 1, 1000);
  add_in_range(sub, "--file-minutes", a->file_minutes,
               "Generated MIDI and WAV files are deleted after this many minutes", 1, 10080);
  sub.add_option("--files-dir", a->files_dir,
                 "Folder for generated files (default: a new temporary folder, deleted at exit)");
  sub.add_option("--soundfont", a->soundfont,
                 "General MIDI soundfont for the WAV files (default: the installed one)");
  melodl::cli::add_checkpoint_choice(sub, a->which);
  sub.add_flag("-q,--quiet", a->quiet, "Print only the URL");
  return [a] { return run_serve(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(serve, "serve", "Compose in the browser: serve models to a web page",
                        setup);
