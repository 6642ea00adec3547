// web/server.cpp: see server.h.
#include "web/server.h"

#include <httplib.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "base/error.h"

namespace melodl::web {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Where Debian's libjs-three lives (MELODL_THREE_DIR overrides, e.g. for another install).
std::string three_dir() {
  if (const char* env = std::getenv("MELODL_THREE_DIR"); env && *env) return env;
  return MELODL_WEB_THREE_DIR;
}

std::string event(const char* name, const std::string& data) {
  return std::string("event: ") + name + "\ndata: " + data + "\n\n";
}

std::string loss_history_json(const std::vector<std::pair<std::int64_t, double>>& h) {
  std::string out = "[";
  char buf[64];
  for (const auto& [step, loss] : h) {
    if (!std::isfinite(loss)) continue;
    std::snprintf(buf, sizeof buf, "%s[%lld,%.6g]", out.size() > 1 ? "," : "",
                  static_cast<long long>(step), loss);
    out += buf;
  }
  return out + "]";
}

std::string lr_json(const std::optional<double>& lr) {
  return lr ? nlohmann::json(*lr).dump() : std::string("null");
}

// {"paused","step","lr","lr_requested"}: the control state (answers of the POST routes and
// the stream's status events); lr is the latest snapshot's, lr_requested a pending request.
std::string status_json(const VizListener& l) {
  const Snapshot snap = l.latest();
  const std::optional<double> req = l.requested_lr();
  nlohmann::json j;
  j["paused"] = snap.paused;
  j["step"] = snap.step;
  j["lr"] = snap.seq && std::isfinite(snap.lr) ? nlohmann::json(snap.lr) : nlohmann::json();
  j["lr_requested"] = req ? nlohmann::json(*req) : nlohmann::json();  // null: none pending
  return j.dump();
}

// The learning rate in a POST /api/lr body: {"lr": NUMBER} or a bare JSON number. Throws
// InvalidArgument with a message for the page otherwise.
double parse_lr_body(const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  const nlohmann::json* v = &j;
  if (j.is_object() && j.contains("lr")) v = &j.at("lr");
  if (!v->is_number()) {
    char range[64];
    std::snprintf(range, sizeof range, "%g <= lr <= %g", kMinRequestedLr, kMaxRequestedLr);
    throw InvalidArgument("lr: expected a JSON body {\"lr\": NUMBER} with " + std::string(range) +
                          ", got '" + body.substr(0, 80) + "'");
  }
  return v->get<double>();
}

}  // namespace

struct VizServer::Impl {
  VizListener& listener;
  httplib::Server server;
  std::string address;
  int port = 0;
  std::thread thread;
  std::atomic<bool> stopping{false};
  explicit Impl(VizListener& l) : listener(l) {}
};

VizServer::VizServer(VizListener& listener, const std::string& bind_address, int port)
    : impl_(std::make_unique<Impl>(listener)) {
  auto& s = impl_->server;
  Impl* impl = impl_.get();
  for (const char* page : {"/index.html", "/app.js", "/style.css"}) {
    const std::string path = page;
    const char* type = path.ends_with(".html") ? "text/html; charset=utf-8"
                       : path.ends_with(".js") ? "text/javascript; charset=utf-8"
                                               : "text/css; charset=utf-8";
    s.Get(path, [path, type](const httplib::Request&, httplib::Response& res) {
      res.set_content(embedded_asset(path), type);
    });
  }
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(embedded_asset("/index.html"), "text/html; charset=utf-8");
  });
  for (const auto& [route, file] :
       {std::pair<std::string, std::string>{"/three.min.js", "/three.min.js"},
        {"/OrbitControls.js", "/examples/js/controls/OrbitControls.js"}}) {
    s.Get(route, [file = file](const httplib::Request&, httplib::Response& res) {
      const std::string path = three_dir() + file;
      const std::string body = read_file(path);
      if (body.empty()) {
        res.status = 404;
        res.set_content(path + ": not found (install libjs-three or set MELODL_THREE_DIR)\n",
                        "text/plain");
        return;
      }
      res.set_header("Cache-Control", "max-age=3600");
      res.set_content(body, "text/javascript; charset=utf-8");
    });
  }
  s.Get("/api/layout", [impl](const httplib::Request&, httplib::Response& res) {
    res.set_content(layout_json(impl->listener.arrays(), impl->listener.options()),
                    "application/json");
  });
  s.Get("/api/latest", [impl](const httplib::Request&, httplib::Response& res) {
    const Snapshot snap = impl->listener.latest();
    const EpochSamples samples = impl->listener.latest_samples();
    res.set_content(std::string("{\"snapshot\":") + (snap.seq ? snapshot_json(snap) : "null") +
                        ",\"samples\":" + (samples.seq ? samples_json(samples) : "null") +
                        ",\"paused\":" + (impl->listener.paused() ? "true" : "false") +
                        ",\"lr_requested\":" + lr_json(impl->listener.requested_lr()) +
                        ",\"loss_history\":" + loss_history_json(impl->listener.loss_history()) +
                        "}",
                    "application/json");
  });
  auto control = [impl](const char* what) {
    return [impl, what = std::string(what)](const httplib::Request&, httplib::Response& res) {
      if (what == "pause") impl->listener.pause();
      if (what == "resume") impl->listener.resume();
      if (what == "step") impl->listener.single_step();
      res.set_content(status_json(impl->listener), "application/json");
    };
  };
  s.Post("/api/pause", control("pause"));
  s.Post("/api/resume", control("resume"));
  s.Post("/api/step", control("step"));
  // A new learning rate for the following updates; the training loop takes it after the
  // current update (VizListener::take_requested_lr). 400 with {"error"} for a bad value.
  s.Post("/api/lr", [impl](const httplib::Request& req, httplib::Response& res) {
    try {
      impl->listener.request_lr(parse_lr_body(req.body));
    } catch (const InvalidArgument& e) {
      res.status = 400;
      // (replace: the message quotes the body, which need not be UTF-8)
      res.set_content(nlohmann::json{{"error", e.what()}}.dump(
                          -1, ' ', false, nlohmann::json::error_handler_t::replace),
                      "application/json");
      return;
    }
    res.set_content(status_json(impl->listener), "application/json");
  });
  // The page's self-test (index.html?selftest=1) reports here; printed for the e2e test.
  s.Post("/api/report", [](const httplib::Request& req, httplib::Response& res) {
    std::string body = req.body.substr(0, 20000);
    for (char& c : body)
      if (c == '\n' || c == '\r') c = ' ';
    std::fprintf(stderr, "melodl viz: page report: %s\n", body.c_str());
    std::fflush(stderr);
    res.set_content("{}", "application/json");
  });
  s.Get("/api/events", [impl](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    struct Cursor {
      std::uint64_t seq = 0, samples = 0, control = ~std::uint64_t{0};
      bool ended = false;
    };
    auto cur = std::make_shared<Cursor>();
    res.set_chunked_content_provider("text/event-stream", [impl, cur](std::size_t,
                                                                      httplib::DataSink& sink) {
      if (impl->stopping.load() || cur->ended) {
        sink.done();
        return true;
      }
      auto& l = impl->listener;
      if (!l.wait_for_news(cur->seq, cur->samples, cur->control, std::chrono::milliseconds(2000))) {
        const std::string keepalive = ": keepalive\n\n";
        return sink.write(keepalive.data(), keepalive.size());
      }
      std::string out;
      const std::uint64_t control = l.control_seq();
      if (control != cur->control) {
        cur->control = control;
        out += event("status", status_json(l));
      }
      const Snapshot snap = l.latest();
      if (snap.seq > cur->seq) {
        cur->seq = snap.seq;
        out += event("snapshot", snapshot_json(snap));
      }
      const EpochSamples samples = l.latest_samples();
      if (samples.seq > cur->samples) {
        cur->samples = samples.seq;
        out += event("samples", samples_json(samples));
      }
      if (l.is_shut_down()) {
        out += event("end", "{}");
        cur->ended = true;
      }
      return out.empty() || sink.write(out.data(), out.size());
    });
  });

  // httplib's default also sets SO_REUSEPORT, which would let a second run share (and
  // steal half the connections of) a busy port: keep SO_REUSEADDR only.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof yes);
  });
  impl_->address = bind_address;
  if (port == 0) {
    impl_->port = s.bind_to_any_port(bind_address);
  } else {
    impl_->port = s.bind_to_port(bind_address, port) ? port : -1;
  }
  if (impl_->port <= 0)
    throw IoError("--viz: cannot listen on " + bind_address + ":" + std::to_string(port) +
                  " (port in use or address not local?)");
  impl_->thread = std::thread([impl] { impl->server.listen_after_bind(); });
  // httplib's stop() does nothing before the accept loop runs: wait for it, so that a
  // server destroyed right away still stops.
  for (int i = 0; i < 5000 && !impl_->server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

VizServer::~VizServer() {
  impl_->stopping.store(true);
  impl_->listener.shutdown();
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int VizServer::port() const { return impl_->port; }

std::string VizServer::url() const {
  const std::string host = impl_->address == "0.0.0.0" ? "127.0.0.1" : impl_->address;
  return "http://" + host + ":" + std::to_string(impl_->port) + "/";
}

}  // namespace melodl::web
