// web/viz_server.h: the live view of `melodl train --viz` on the shared server layer
// (server.h, which also gives it its Host/Origin/token, body and stream policy). Serves the
// page (web/static/, embedded at build time, with the run's token), three.js from Debian's
// libjs-three, the parameter layout, and a Server-Sent Events stream of the listener's
// snapshots and epoch samples; POST routes pause, single-step and resume training and
// request a learning rate; POST /api/compose-now (when given a handler, compose_now.h)
// composes one piece from the weights being trained, one request at a time (429 with
// Retry-After while one runs). Routes and the stream format: docs/viz.md.
//
// Example:
//   VizServer server(listener, "127.0.0.1", 8765);   // 0 = any free port
//   std::printf("%s\n", server.url().c_str());        // serving from a thread already
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "web/listener.h"
#include "web/server.h"

namespace melodl::web {

class VizServer {
 public:
  // Binds and starts serving on a background thread. Throws melodl::IoError naming
  // the address and port when it cannot bind.
  VizServer(VizListener& listener, const std::string& bind_address, int port,
            const ServerLimits& limits = {}, Handler compose_now = {});
  ~VizServer();  // stops the server (ends open streams) and joins its threads
  VizServer(const VizServer&) = delete;
  VizServer& operator=(const VizServer&) = delete;

  int port() const;
  std::string url() const;           // http://ADDRESS:PORT/
  const std::string& token() const;  // the run's token (server.h), also in GET /

 private:
  VizListener& listener_;
  Server server_;
  std::atomic<bool> composing_{false};  // a compose-now request is running
};

}  // namespace melodl::web
