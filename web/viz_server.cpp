// web/viz_server.cpp: see viz_server.h.
#include "web/viz_server.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

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

// One open /api/events stream: waits up to 2 s for news, then sends a status event when
// the control state changed, the latest snapshot and samples when new, and `end` once the
// listener shuts down (then the stream ends).
StreamNext event_stream(VizListener& l) {
  struct Cursor {
    std::uint64_t seq = 0, samples = 0, control = ~std::uint64_t{0};
  };
  return [&l, cur = std::make_shared<Cursor>()](std::string& out) {
    if (!l.wait_for_news(cur->seq, cur->samples, cur->control, std::chrono::milliseconds(2000)))
      return true;
    if (const std::uint64_t control = l.control_seq(); control != cur->control) {
      cur->control = control;
      out += sse_event("status", status_json(l));
    }
    if (const Snapshot snap = l.latest(); snap.seq > cur->seq) {
      cur->seq = snap.seq;
      out += sse_event("snapshot", snapshot_json(snap));
    }
    if (const EpochSamples samples = l.latest_samples(); samples.seq > cur->samples) {
      cur->samples = samples.seq;
      out += sse_event("samples", samples_json(samples));
    }
    if (!l.is_shut_down()) return true;
    out += sse_event("end", "{}");
    return false;
  };
}

}  // namespace

VizServer::VizServer(VizListener& listener, const std::string& bind_address, int port,
                     const ServerLimits& limits, Handler compose_now)
    : listener_(listener), server_(bind_address, limits) {
  Server& s = server_;
  VizListener& l = listener_;
  s.pages({"/index.html", "/app.js", "/style.css", "/roll.js"}, "/index.html");
  for (const auto& [route, file] :
       {std::pair<std::string, std::string>{"/three.min.js", "/three.min.js"},
        {"/OrbitControls.js", "/examples/js/controls/OrbitControls.js"}}) {
    s.get(route, [file = file](const Request&, Response& res) {
      const std::string path = three_dir() + file;
      res.body = read_file(path);
      if (res.body.empty()) {
        res.status = 404;
        res.body = path + ": not found (install libjs-three or set MELODL_THREE_DIR)\n";
        res.content_type = "text/plain";
        return;
      }
      res.headers.emplace_back("Cache-Control", "max-age=3600");
      res.content_type = "text/javascript; charset=utf-8";
    });
  }
  s.get("/api/layout",
        [&l](const Request&, Response& res) { res.body = layout_json(l.arrays(), l.options()); });
  s.get("/api/latest", [&l](const Request&, Response& res) { res.body = latest_json(l); });
  const auto control = [&l](void (VizListener::*action)()) {
    return [&l, action](const Request&, Response& res) {
      (l.*action)();
      res.body = status_json(l);
    };
  };
  s.post("/api/pause", control(&VizListener::pause));
  s.post("/api/resume", control(&VizListener::resume));
  s.post("/api/step", control(&VizListener::single_step));
  // A new learning rate for the following updates; the training loop takes it after the
  // current update (VizListener::take_requested_lr). 400 with {"error"} for a bad value.
  s.post("/api/lr", [&l](const Request& req, Response& res) {
    try {
      l.request_lr(parse_lr_body(req.body));
    } catch (const InvalidArgument& e) {
      res.status = 400;
      // (replace: the message quotes the body, which need not be UTF-8)
      res.body = nlohmann::json{{"error", e.what()}}.dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace);
      return;
    }
    res.body = status_json(l);
  });
  // "Compose now": costs a second or so of CPU, so one at a time; the page shows the 429.
  if (compose_now)
    s.post("/api/compose-now",
           [this, fn = std::move(compose_now)](const Request& req, Response& res) {
             if (composing_.exchange(true)) {
               res.status = 429;
               res.headers.emplace_back("Retry-After", "1");
               res.body = R"({"error":"busy: composing another piece; retry in a second"})";
               return;
             }
             struct Done {
               std::atomic<bool>& flag;
               ~Done() { flag.store(false); }
             } done{composing_};
             fn(req, res);
           });
  // The page's self-test (index.html?selftest=1) reports here; printed for the e2e test.
  s.post("/api/report", report_handler("melodl viz"));
  s.stream("/api/events", [&l](const Request&) { return event_stream(l); });
  s.start(port, "--viz");
}

VizServer::~VizServer() {
  listener_.shutdown();  // open streams send `end` and finish
  server_.stop();
}

int VizServer::port() const { return server_.port(); }

std::string VizServer::url() const { return server_.url(); }

const std::string& VizServer::token() const { return server_.token(); }

}  // namespace melodl::web
