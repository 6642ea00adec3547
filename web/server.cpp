// web/server.cpp: see server.h.
#include "web/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string_view>
#include <thread>

#include "base/error.h"

namespace melodl::web {

namespace {

// httplib's task queue for one server: `api_threads` workers take the accepted connections.
// A worker whose request opens an event stream (begin_stream) becomes that stream's thread
// and ends with it, and a new worker takes its place at once, so streams never hold the
// threads that answer other requests. At most `max_streams` streams at a time.
class Pool final : public httplib::TaskQueue {
 public:
  Pool(int api_threads, int max_streams, std::atomic<int>& streams)
      : max_streams_(max_streams), streams_(streams) {
    std::lock_guard lock(mu_);
    for (int i = 0; i < api_threads; ++i) spawn_locked();
  }
  ~Pool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

  // Finishes the queued connections and waits for every worker and stream thread.
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (;;) {
      std::list<Worker> all;
      {
        std::lock_guard lock(mu_);
        all.splice(all.end(), workers_);
      }
      if (all.empty()) return;
      for (auto& w : all) w.thread.join();
    }
  }

  // On the thread of a request of this server: turns it into a stream thread (true), or
  // false when max_streams streams are open or the server is stopping.
  static bool begin_stream() {
    Pool* pool = t_pool;
    if (!pool || t_stream) return false;
    std::lock_guard lock(pool->mu_);
    if (pool->shutdown_ || pool->streams_.load() >= pool->max_streams_) return false;
    ++pool->streams_;
    t_stream = true;
    pool->reap_locked();
    pool->spawn_locked();  // the replacement worker
    return true;
  }

 private:
  struct Worker {
    std::thread thread;
    bool done = false;  // under mu_: about to return, ready to join
  };

  void spawn_locked() {
    Worker& w = workers_.emplace_back();
    w.thread = std::thread([this, &w] { work(w); });
  }
  void reap_locked() {
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->done) {
        it->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void work(Worker& self) {
    t_pool = this;
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return shutdown_ || !jobs_.empty(); });
        if (jobs_.empty()) break;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      t_stream = false;
      job();  // reads the request, answers it, closes the connection
      if (t_stream) {
        std::lock_guard lock(mu_);
        --streams_;
        self.done = true;
        return;
      }
    }
    std::lock_guard lock(mu_);
    self.done = true;
  }

  static thread_local Pool* t_pool;
  static thread_local bool t_stream;
  const int max_streams_;
  std::atomic<int>& streams_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::list<Worker> workers_;
  bool shutdown_ = false;
};

thread_local Pool* Pool::t_pool = nullptr;
thread_local bool Pool::t_stream = false;

// httplib keeps the listening socket protected; the backlog is set on it after binding.
class HttpServer final : public httplib::Server {
 public:
  socket_t listening_socket() const { return svr_sock_; }
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_wildcard(const std::string& address) { return address == "0.0.0.0" || address == "::"; }

// An address as it appears in a Host header: IPv6 in brackets.
std::string host_form(const std::string& address) {
  return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

// The name in a Host header value ("name", "name:port", "[v6]", "[v6]:port"), lowercased;
// empty when malformed.
std::string host_name(const std::string& host) {
  const std::string h = lower(host);
  std::size_t end = h.starts_with('[') ? h.find(']') : h.find(':');
  if (h.starts_with('[')) {
    if (end == std::string::npos) return {};
    ++end;
  }
  end = std::min(end, h.size());
  const std::string port = h.substr(end);
  if (!port.empty()) {
    if (port[0] != ':' || port.size() < 2 || port.size() > 6) return {};
    if (!std::all_of(port.begin() + 1, port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return {};
  }
  return h.substr(0, end);
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, name.c_str(), buf) == 1) return true;
  return name.size() > 2 && name.front() == '[' && name.back() == ']' &&
         inet_pton(AF_INET6, name.substr(1, name.size() - 2).c_str(), buf) == 1;
}

std::string random_token() {
  std::random_device rd;
  char buf[33];
  for (int i = 0; i < 4; ++i) std::snprintf(buf + 8 * i, 9, "%08x", static_cast<unsigned>(rd()));
  return std::string(buf, 32);
}

bool same_text(const std::string& a, const std::string& b) {  // without early exit
  if (a.size() != b.size()) return false;
  unsigned diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  return diff == 0;
}

void refuse(httplib::Response& res, int status, const std::string& why) {
  res.status = status;
  res.set_content(std::to_string(status) + ": " + why + "\n", "text/plain; charset=utf-8");
}

Request to_request(const httplib::Request& req) {
  Request r;
  r.method = req.method;
  r.path = req.path;
  r.params = req.params;
  return r;
}

// httplib matches routes as regular expressions: escape a path so that it matches itself only.
std::string exact(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

void answer(const Response& r, httplib::Response& res) {
  res.status = r.status;
  for (const auto& [k, v] : r.headers) res.set_header(k, v);
  res.set_content(r.body, r.content_type);
}

}  // namespace

void ServerLimits::validate() const {
  const auto positive = [](long long v, const char* what) {
    if (v < 1) throw InvalidArgument(std::string("ServerLimits.") + what + ": must be >= 1");
  };
  positive(static_cast<long long>(max_body_bytes), "max_body_bytes");
  positive(max_streams, "max_streams");
  positive(api_threads, "api_threads");
  positive(listen_backlog, "listen_backlog");
  positive(idle_timeout_s, "idle_timeout_s");
  positive(io_timeout_s, "io_timeout_s");
}

std::string sse_event(const std::string& name, const std::string& data) {
  return "event: " + name + "\ndata: " + data + "\n\n";
}

std::string with_token(std::string html, const std::string& token) {
  const std::string slot = "<meta name=\"melodl-token\" content=\"";
  if (const auto at = html.find(slot + "\""); at != std::string::npos)
    html.insert(at + slot.size(), token);
  return html;
}

Handler report_handler(const std::string& who) {
  return [who](const Request& req, Response& res) {
    std::string body = req.body.substr(0, 20000);
    for (char& c : body)
      if (c == '\n' || c == '\r') c = ' ';
    std::fprintf(stderr, "%s: page report: %s\n", who.c_str(), body.c_str());
    std::fflush(stderr);
    res.body = "{}";
  };
}

struct Server::Impl {
  std::string address;
  ServerLimits limits;
  std::string token = random_token();
  HttpServer http;
  std::set<std::string> post_paths;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<int> streams{0};
  int port = 0;

  // The policy of server.h, before routing and before any body is read: 0 when the
  // request may go on, else the status of the refusal written into `res`.
  int admit(const httplib::Request& req, httplib::Response& res) const {
    const std::string host = req.get_header_value("Host");
    const std::string name = host_name(host);
    const bool host_ok = name == "localhost" || name == "127.0.0.1" || name == "[::1]" ||
                         (!name.empty() && name == lower(host_form(address))) ||
                         (is_wildcard(address) && is_ip_literal(name));
    if (!host_ok) {
      refuse(res, 403,
             "Host '" + host.substr(0, 100) +
                 "' is not this server (use http://127.0.0.1:" + std::to_string(port) + "/)");
      return res.status;
    }
    const bool has_origin = req.has_header("Origin");
    if (has_origin && lower(req.get_header_value("Origin")) != "http://" + lower(host)) {
      refuse(res, 403,
             "requests from other web pages are refused (Origin '" +
                 req.get_header_value("Origin").substr(0, 100) + "')");
      return res.status;
    }
    if (req.method == "GET" || req.method == "HEAD") return 0;
    if (req.method != "POST") {
      refuse(res, 405, "method " + req.method.substr(0, 20) + " not allowed");
      res.set_header("Allow", "GET, HEAD, POST");
      return res.status;
    }
    if (!post_paths.contains(req.path)) {
      refuse(res, 404, "no POST route " + req.path.substr(0, 100));
      return res.status;
    }
    if (!has_origin && !same_text(req.get_header_value(kTokenHeader), token)) {
      refuse(res, 403,
             std::string("a POST needs a same-origin Origin header or the page's ") + kTokenHeader +
                 " token");
      return res.status;
    }
    if (req.has_header("Content-Length") &&
        req.get_header_value<std::uint64_t>("Content-Length") > limits.max_body_bytes) {
      refuse(res, 413, "request body over " + std::to_string(limits.max_body_bytes) + " bytes");
      return res.status;
    }
    return 0;
  }
};

Server::Server(std::string bind_address, ServerLimits limits) : impl_(std::make_unique<Impl>()) {
  limits.validate();
  impl_->address = std::move(bind_address);
  impl_->limits = limits;
}

Server::~Server() { stop(); }

void Server::get(const std::string& path, Handler handler) {
  impl_->http.Get(exact(path), [handler = std::move(handler)](const httplib::Request& req,
                                                              httplib::Response& res) {
    Response out;
    handler(to_request(req), out);
    answer(out, res);
  });
}

void Server::post(const std::string& path, Handler handler) {
  impl_->post_paths.insert(path);
  Impl* impl = impl_.get();
  impl_->http.Post(exact(path), [impl, handler = std::move(handler)](
                                    const httplib::Request& req, httplib::Response& res,
                                    const httplib::ContentReader& read) {
    Request r = to_request(req);
    // Without Content-Length or chunked encoding a request has no body (httplib would read
    // to the end of the connection).
    if (req.has_header("Content-Length") ||
        req.get_header_value("Transfer-Encoding") == "chunked") {
      bool too_big = false;
      const bool complete = read([&](const char* data, std::size_t n) {
        too_big = r.body.size() + n > impl->limits.max_body_bytes;
        if (!too_big) r.body.append(data, n);
        return !too_big;
      });
      if (too_big)
        return refuse(
            res, 413,
            "request body over " + std::to_string(impl->limits.max_body_bytes) + " bytes");
      if (!complete) return refuse(res, 400, "incomplete request body");
    }
    Response out;
    handler(r, out);
    answer(out, res);
  });
}

void Server::stream(const std::string& path, StreamOpen open) {
  Impl* impl = impl_.get();
  impl_->http.Get(exact(path), [impl, open = std::move(open)](const httplib::Request& req,
                                                              httplib::Response& res) {
    if (!Pool::begin_stream())
      return refuse(res, 503,
                    "too many event streams: this server sends at most " +
                        std::to_string(impl->limits.max_streams) +
                        " at a time (close other tabs of this page)");
    struct State {
      StreamNext next;
      bool ended = false;
    };
    auto state = std::make_shared<State>(State{open(to_request(req))});
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider("text/event-stream",
                                     [impl, state](std::size_t, httplib::DataSink& sink) {
                                       if (state->ended || impl->stopping.load()) {
                                         sink.done();
                                         return true;
                                       }
                                       std::string out;
                                       state->ended = !state->next(out);
                                       if (out.empty() && !state->ended) out = ": keepalive\n\n";
                                       return out.empty() || sink.write(out.data(), out.size());
                                     });
  });
}

void Server::start(int port, const std::string& what) {
  Impl* impl = impl_.get();
  auto& s = impl->http;
  const ServerLimits& lim = impl->limits;
  s.new_task_queue = [impl] {
    return new Pool(impl->limits.api_threads, impl->limits.max_streams, impl->streams);
  };
  // One request per connection: a browser's idle kept-alive connection would hold a thread.
  s.set_keep_alive_max_count(1);
  s.set_keep_alive_timeout(lim.idle_timeout_s);
  s.set_read_timeout(lim.io_timeout_s, 0);
  s.set_write_timeout(lim.io_timeout_s, 0);
  s.set_payload_max_length(lim.max_body_bytes);
  s.set_pre_routing_handler([impl](const httplib::Request& req, httplib::Response& res) {
    return impl->admit(req, res) ? httplib::Server::HandlerResponse::Handled
                                 : httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          refuse(res, 500, x.what());
        } catch (...) {
          refuse(res, 500, "unknown error");
        }
      });
  // "Expect: 100-continue": refuse before the client sends the body.
  s.set_expect_100_continue_handler([impl](const httplib::Request& req, httplib::Response& res) {
    const int refused = impl->admit(req, res);
    return refused ? refused : 100;
  });
  // httplib's default also sets SO_REUSEPORT, which would let a second run share (and
  // steal half the connections of) a busy port: keep SO_REUSEADDR only.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof yes);
  });
  impl->port = port == 0 ? s.bind_to_any_port(impl->address)
                         : (s.bind_to_port(impl->address, port) ? port : -1);
  if (impl->port <= 0)
    throw IoError(what + ": cannot listen on " + impl->address + ":" + std::to_string(port) +
                  " (port in use or address not local?)");
  // httplib listens with a backlog of 5; listening again only changes the backlog.
  if (::listen(s.listening_socket(), lim.listen_backlog) != 0)
    throw IoError(what + ": cannot set the listen backlog on " + impl->address + ":" +
                  std::to_string(impl->port));
  impl->thread = std::thread([impl] { impl->http.listen_after_bind(); });
  // httplib's stop() does nothing before the accept loop runs: wait for it, so that a
  // server destroyed right away still stops.
  for (int i = 0; i < 5000 && !s.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void Server::stop() {
  impl_->stopping.store(true);
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int Server::port() const { return impl_->port; }

std::string Server::url() const {
  const std::string& a = impl_->address;
  const std::string host = a == "0.0.0.0" ? "127.0.0.1" : a == "::" ? "[::1]" : host_form(a);
  return "http://" + host + ":" + std::to_string(impl_->port) + "/";
}

const std::string& Server::token() const { return impl_->token; }

int Server::open_streams() const { return impl_->streams.load(); }

void Server::pages(const std::vector<std::string>& pages, const std::string& index) {
  for (const std::string& page : pages) {
    const bool html = page.ends_with(".html");
    const char* type = html                     ? "text/html; charset=utf-8"
                       : page.ends_with(".js")  ? "text/javascript; charset=utf-8"
                       : page.ends_with(".css") ? "text/css; charset=utf-8"
                                                : "application/octet-stream";
    const Handler handler = [this, page, html, type](const Request&, Response& res) {
      res.body = html ? with_token(embedded_asset(page), token()) : embedded_asset(page);
      res.content_type = type;
    };
    get(page, handler);
    if (page == index) get("/", handler);
  }
}

}  // namespace melodl::web
