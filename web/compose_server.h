// web/compose_server.h: `melodl serve`, composing in the browser (docs/serve.md), on the
// shared server layer (server.h: Host/Origin/token checks, body cap, backlog, timeouts).
// Routes: GET / (the page, web/static/compose.*, with the server's token),
// GET /api/models (the model cards), POST /api/compose (compose_request.h: the pieces'
// notes, symbols and the URLs of their MIDI and WAV files), GET /api/file?id=&name= (a
// generated file; the WAV is rendered with fluidsynth on its first request).
// Work (composing, rendering) runs on a pool of `workers` threads with a queue of at most
// `queue` waiting jobs: a request beyond that is answered 429 with Retry-After at once,
// and the request threads (server.h) are sized so that GETs are still answered while
// every job slot is taken. Generated files live in a temporary folder, each request's in
// its own subfolder, deleted after `file_ttl_s` or when more than `max_results` are kept,
// and the whole folder when the server stops.
//
// Example:
//   web::ComposeServer s(web::load_served_models({"runs/bach"}), "127.0.0.1", 8766, {});
//   std::printf("%s\n", s.url().c_str());  // serving from threads already
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "web/compose_models.h"
#include "web/compose_request.h"
#include "web/server.h"

namespace melodl::web {

struct ComposeServerOptions {
  int workers = 2;                  // composing threads
  int queue = 16;                   // jobs waiting for a worker; one more is 429
  RequestLimits request;            // per-request limits (400 / 413 naming the field)
  ServerLimits server;              // api_threads is raised to workers + queue + 8 when lower
  int file_ttl_s = 1800;            // a request's files are deleted after this
  int max_results = 256;            // requests whose files are kept; the oldest go first
  int job_timeout_s = 120;          // a request waiting longer for its job is answered 503
  std::filesystem::path files_dir;  // "" = a new folder in the system's temp folder
  std::filesystem::path soundfont;  // "" = pipeline::find_soundfont(); none: no WAV links
  void validate() const;            // throws InvalidArgument naming the field
};

class ComposeServer {
 public:
  // Binds and serves on background threads; throws IoError when it cannot bind.
  ComposeServer(ServedModels models, const std::string& bind_address, int port,
                ComposeServerOptions options = {});
  ~ComposeServer();  // stops serving, joins the workers, deletes the generated files
  ComposeServer(const ComposeServer&) = delete;
  ComposeServer& operator=(const ComposeServer&) = delete;

  int port() const;
  std::string url() const;
  const std::string& token() const;
  const std::filesystem::path& files_dir() const;
  const ServedModels& models() const;
  bool wav_available() const;  // a soundfont was found (WAV links are given)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace melodl::web
