// web/server.h: melodl's embedded HTTP server layer (cpp-httplib, private), shared by every
// server the program runs (the live view of `melodl train --viz`, web/viz_server.h, and
// `melodl serve`'s composer, web/compose_server.h).
// It enforces one policy for all of them, so that other web pages cannot drive a run and a
// flood of clients cannot stall it (docs/viz.md "Security and limits"):
// * every request's Host must name this server: localhost, 127.0.0.1 or [::1] (any port),
//   or the bind address (for a wildcard bind, 0.0.0.0 or ::, any IP literal), else 403,
//   which defeats DNS rebinding;
// * a request carrying an Origin header is refused (403) unless Origin is
//   "http://" + its Host (same origin);
// * POST routes (the ones that change state) also need, when Origin is absent, the per-run
//   token (token(); pages get it in GET /, with_token) in the X-Melodl-Token header, else 403;
//   other methods are 405, POST to an unknown path 404, both before any body is read;
// * request bodies over ServerLimits::max_body_bytes are 413, refused from Content-Length
//   before reading (chunked bodies: as soon as the cap is passed), never buffered whole;
// * event streams run on threads of their own, at most max_streams at once (503 beyond),
//   never on the api_threads that answer every other request; connections are not kept
//   alive, so an idle browser tab holds no thread.
//
// Example:
//   web::Server server("127.0.0.1");
//   server.get("/api/x", [](const web::Request&, web::Response& r) { r.body = "{}"; });
//   server.post("/api/go", [](const web::Request& q, web::Response& r) { ... });
//   server.stream("/api/events", [](const web::Request&) { return next_fn; });
//   server.start(8765);  // 0 = any free port; serving from a thread from now on
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace melodl::web {

struct ServerLimits {
  std::size_t max_body_bytes = 64 * 1024;  // a larger request body: 413
  int max_streams = 32;                    // open event streams; one more: 503
  int api_threads = 16;                    // threads answering all other requests
  int listen_backlog = 256;                // pending connections the kernel queues
  int idle_timeout_s = 3;                  // a connection sending nothing is closed after this
  int io_timeout_s = 5;                    // one read or write of a request or response
  void validate() const;                   // throws InvalidArgument naming the field
};

struct Request {
  std::string method, path, body;
  std::multimap<std::string, std::string> params;  // of the query string
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<void(const Request&, Response&)>;
// An open event stream: called again and again on the stream's thread; appends the text to
// send (events "event: NAME\ndata: JSON\n\n") to `out` and returns false after the last
// one. Should return within about 2 s (appending nothing sends a keepalive comment), so
// that stop() ends the stream soon.
using StreamNext = std::function<bool(std::string& out)>;
using StreamOpen = std::function<StreamNext(const Request&)>;

// "event: NAME\ndata: DATA\n\n".
std::string sse_event(const std::string& name, const std::string& data);

// `html` with the token in its <meta name="melodl-token" content=""> (unchanged if absent).
std::string with_token(std::string html, const std::string& token);

// The pages embedded in the program at build time (web/static/, web/CMakeLists.txt), by
// path ("/index.html", "/compose.js", ...); empty if none.
std::string embedded_asset(const std::string& path);

// POST /api/report of a page's self-test (?selftest=1, run by the end-to-end tests): prints
// "<who>: page report: BODY" (one line, at most 20000 characters) to stderr.
Handler report_handler(const std::string& who);

// The per-run token's header on POST requests without an Origin header.
inline constexpr const char* kTokenHeader = "X-Melodl-Token";

class Server {
 public:
  explicit Server(std::string bind_address, ServerLimits limits = {});
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes (exact paths), registered before start(). A handler's exception is a 500 whose
  // body is its message.
  void get(const std::string& path, Handler handler);
  void post(const std::string& path, Handler handler);  // state-changing: Origin or token
  void stream(const std::string& path, StreamOpen open);

  // Binds (port 0: any free port) and serves on a background thread. Throws
  // melodl::IoError naming `what`, the address and the port when it cannot bind.
  void start(int port, const std::string& what);
  void stop();  // ends open streams, joins all threads; idempotent

  int port() const;
  std::string url() const;  // http://ADDRESS:PORT/ (a wildcard address as loopback)
  const std::string& token() const;
  int open_streams() const;

  // GET routes for embedded pages (embedded_asset): each of `pages` at its path, and
  // `index` (an .html page) also at "/"; .html pages get the token (with_token).
  void pages(const std::vector<std::string>& pages, const std::string& index);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace melodl::web
