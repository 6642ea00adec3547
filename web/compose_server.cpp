// web/compose_server.cpp: see compose_server.h. The routes, and the jobs they queue.
#include "web/compose_server.h"

#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "encode/melody_song.h"
#include "pipeline/audio.h"
#include "web/compose_jobs.h"
#include "web/compose_pieces.h"

namespace melodl::web {

namespace fs = std::filesystem;
namespace pl = melodl::pipeline;

namespace {

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void fail(Response& res, int status, const std::string& message) {
  res.status = status;
  res.body = dump(nlohmann::json{{"error", message}});
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_hex32(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// "piece-NN.mid" / "piece-NN.wav" -> NN - 1, else -1.
int piece_of(const std::string& name) {
  if (name.size() != 12 || !name.starts_with("piece-") ||
      (!name.ends_with(".mid") && !name.ends_with(".wav")))
    return -1;
  const char a = name[6], b = name[7];
  if (a < '0' || a > '9' || b < '0' || b > '9') return -1;
  return (a - '0') * 10 + (b - '0') - 1;
}

}  // namespace

void ComposeServerOptions::validate() const {
  const auto in = [](long long v, long long lo, long long hi, const char* what) {
    if (v < lo || v > hi)
      throw InvalidArgument(std::string(what) + ": must be from " + std::to_string(lo) + " to " +
                            std::to_string(hi) + ", got " + std::to_string(v));
  };
  in(workers, 1, 256, "workers");
  in(queue, 0, 256, "queue");  // each waiting request holds a request thread
  in(file_ttl_s, 1, 7 * 86400, "file_ttl_s");
  in(max_results, 1, 100000, "max_results");
  in(job_timeout_s, 1, 3600, "job_timeout_s");
  request.validate();
  server.validate();
}

struct ComposeServer::Impl {
  ComposeServerOptions options;
  ServedModels models;
  fs::path soundfont;  // "" = no WAV
  std::unique_ptr<detail::ResultStore> store;
  std::unique_ptr<Server> server;
  std::unique_ptr<detail::WorkPool> pool;  // destroyed first: no job outlives what it uses
  std::mutex renderer_mu;
  std::unique_ptr<pl::WavRenderer> renderer;

  // Runs `fn` on the pool and waits for its result; 429 (queue full) or 503 (timeout,
  // stopping) into `res` and nullopt when it cannot.
  template <class T>
  std::optional<T> run(std::function<T()> fn, Response& res) {
    auto task = std::make_shared<std::packaged_task<T()>>(std::move(fn));
    std::future<T> done = task->get_future();
    if (!pool->try_submit([task] { (*task)(); })) {
      const int after = pool->retry_after_s();
      fail(res, 429,
           "busy: " + std::to_string(options.workers) + " workers and " +
               std::to_string(options.queue) + " waiting jobs; retry in " + std::to_string(after) +
               " s");
      res.headers.emplace_back("Retry-After", std::to_string(after));
      return std::nullopt;
    }
    if (done.wait_for(std::chrono::seconds(options.job_timeout_s)) != std::future_status::ready) {
      fail(res, 503, "the job took longer than " + std::to_string(options.job_timeout_s) + " s");
      return std::nullopt;
    }
    try {
      return done.get();
    } catch (const std::future_error&) {
      fail(res, 503, "the server is stopping");
      return std::nullopt;
    }
  }

  void compose(const Request& q, Response& res) {
    const ComposeRequest r = parse_compose_request(q.body, options.request);
    const ServedModel* m = find_model(models, r.model);
    if (!m)
      throw RequestError(400, "model: no model named '" + r.model.substr(0, 80) +
                                  "' (GET /api/models lists them)");
    auto result = run<ComposeReply>(
        [this, m, r] {
          Composed c = compose_pieces(m->net, m->model.vocab, r);
          const auto stored = store->add(std::move(c.songs));
          c.reply.id = stored->id;
          return std::move(c.reply);
        },
        res);
    if (!result) return;
    ComposeReply& reply = *result;
    reply.model = m->card.name;
    reply.kind = m->card.kind;
    reply.seed = r.seed;
    for (std::size_t k = 0; k < reply.pieces.size(); ++k) {
      const std::string base = "/api/file?id=" + reply.id + "&name=";
      reply.pieces[k].midi = base + detail::ResultStore::file_name(k, "mid");
      if (!soundfont.empty()) reply.pieces[k].wav = base + detail::ResultStore::file_name(k, "wav");
    }
    nlohmann::json j = reply;
    for (auto& p : j.at("pieces"))
      if (p.at("wav") == "") p["wav"] = nullptr;
    res.body = dump(j);
  }

  void file(const Request& q, Response& res) {
    const auto param = [&q](const char* key) {
      const auto it = q.params.find(key);
      return it == q.params.end() ? std::string() : it->second;
    };
    const std::string id = param("id"), name = param("name");
    if (!is_hex32(id))
      throw RequestError(400, "id: must be 32 hex digits (from POST /api/compose)");
    const int k = piece_of(name);
    if (k < 0) throw RequestError(400, "name: must be piece-NN.mid or piece-NN.wav");
    const auto stored = store->find(id);
    if (!stored || static_cast<std::size_t>(k) >= stored->songs.size())
      throw RequestError(404, "id: no such result (generated files expire after " +
                                  std::to_string(options.file_ttl_s / 60) + " minutes)");
    const fs::path path = stored->dir / name;
    const bool wav = name.ends_with(".wav");
    if (wav && soundfont.empty())
      throw RequestError(
          404, "name: no WAV: " + std::string(pl::audio_available() ? "no General MIDI soundfont "
                                                                      "(apt-get install "
                                                                      "fluid-soundfont-gm)"
                                                                    : pl::kNoAudioMessage));
    if (wav && !fs::exists(path)) {
      const auto rendered = run<bool>(
          [this, stored, k, path] {
            std::lock_guard piece_lock(stored->wav_mu);
            if (fs::exists(path)) return true;
            std::lock_guard lock(renderer_mu);
            if (!renderer) renderer = std::make_unique<pl::WavRenderer>(soundfont);
            renderer->render(stored->songs[static_cast<std::size_t>(k)], path, 180.0);
            return true;
          },
          res);
      if (!rendered) return;
    }
    res.body = read_bytes(path);
    if (res.body.empty()) throw RequestError(404, "id: the result expired");
    res.content_type = wav ? "audio/wav" : "audio/midi";
    res.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + "\"");
  }
};

ComposeServer::ComposeServer(ServedModels models, const std::string& bind_address, int port,
                             ComposeServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  options.server.api_threads =
      std::max(options.server.api_threads, options.workers + options.queue + 8);
  options.validate();
  Impl& im = *impl_;
  im.options = options;
  im.models = std::move(models);
  if (pl::audio_available()) {
    try {
      im.soundfont = pl::find_soundfont(options.soundfont);
    } catch (const Error&) {
      if (!options.soundfont.empty()) throw;  // the user's soundfont must exist
    }
  }
  const bool owned = options.files_dir.empty();
  im.store = std::make_unique<detail::ResultStore>(
      owned ? detail::make_temp_folder() : options.files_dir, owned,
      std::chrono::seconds(options.file_ttl_s), static_cast<std::size_t>(options.max_results));
  im.pool = std::make_unique<detail::WorkPool>(options.workers, options.queue);
  im.server = std::make_unique<Server>(bind_address, options.server);
  Server& s = *im.server;
  s.pages({"/compose.html", "/compose.js", "/compose.css", "/roll.js"}, "/compose.html");
  s.get("/api/models", [&im](const Request&, Response& res) { res.body = models_json(im.models); });
  const auto guarded = [](void (Impl::*route)(const Request&, Response&), Impl* self) {
    return [route, self](const Request& q, Response& res) {
      try {
        (self->*route)(q, res);
      } catch (const RequestError& e) {
        fail(res, e.status(), e.what());
      } catch (const std::exception& e) {
        fail(res, 500, e.what());
      }
    };
  };
  s.post("/api/compose", guarded(&Impl::compose, &im));
  s.get("/api/file", guarded(&Impl::file, &im));
  s.post("/api/report", report_handler("melodl serve"));
  s.start(port, "serve");
}

ComposeServer::~ComposeServer() {
  impl_->pool->stop();    // waiting requests get their 503 at once
  impl_->server->stop();  // joins the request threads
}

int ComposeServer::port() const { return impl_->server->port(); }
std::string ComposeServer::url() const { return impl_->server->url(); }
const std::string& ComposeServer::token() const { return impl_->server->token(); }
const fs::path& ComposeServer::files_dir() const { return impl_->store->root(); }
const ServedModels& ComposeServer::models() const { return impl_->models; }
bool ComposeServer::wav_available() const { return !impl_->soundfont.empty(); }

}  // namespace melodl::web
