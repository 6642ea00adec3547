// tests/web/server_policy_test.cpp: the shared server layer (web/server.h) refuses other
// web pages and survives floods, on loopback: a Host that does not name the server is 403
// on every route (DNS rebinding), a foreign Origin is 403 (also a "simple" text/plain
// cross-site POST, which changes nothing), a POST without Origin needs the run's token,
// other methods are 405 and unknown POST paths 404 before any body is read, bodies over
// the cap are 413 without waiting for them (Content-Length, chunked, Expect: 100-continue),
// event streams beyond the cap are 503 and do not hold the threads of other requests, and
// the listen backlog is the configured one.
// Run: ctest -R ServerPolicy --output-on-failure
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/web/raw_http.h"
#include "web/server.h"

namespace web = melodl::web;
using web::testing::exchange;
using web::testing::RawConnection;
using web::testing::request_text;
using web::testing::status_of;

namespace {

// A server with a counter: GET /n reads it, POST /inc adds one, POST /echo answers the
// body's size, GET /boom throws, GET /events streams an event every 20 ms, GET /flood 64 KiB as
// fast as it can.
struct Counter {
  explicit Counter(const std::string& bind = "127.0.0.1", web::ServerLimits limits = {})
      : server(bind, limits) {
    server.get("/n", [this](const web::Request&, web::Response& r) {
      r.body = std::to_string(count.load());
    });
    server.post("/inc", [this](const web::Request&, web::Response& r) {
      r.body = std::to_string(++count);
    });
    server.post("/echo", [](const web::Request& q, web::Response& r) {
      r.body = std::to_string(q.body.size());
    });
    server.get("/boom", [](const web::Request&, web::Response&) {
      throw std::runtime_error("boom: the handler failed");
    });
    server.stream("/events", [](const web::Request&) {
      return [](std::string& out) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        out += web::sse_event("tick", "{}");
        return true;
      };
    });
    server.stream("/flood", [](const web::Request&) {
      return [](std::string& out) {
        out.append(64 * 1024, ':');  // an SSE comment line
        out.push_back('\n');
        return true;
      };
    });
    server.start(0, "test");
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(server.port()); }
  std::string token_line() const {
    return std::string(web::kTokenHeader) + ": " + server.token() + "\r\n";
  }
  int get(const std::string& path, const std::string& host_header, const std::string& extra = {}) {
    return status_of(exchange(server.port(), request_text("GET", path, host_header, extra)));
  }
  int post(const std::string& path, const std::string& host_header, const std::string& extra,
           const std::string& body = {}) {
    return status_of(exchange(server.port(), request_text("POST", path, host_header, extra, body)));
  }
  std::atomic<int> count{0};
  web::Server server;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST(ServerPolicy, HostMustBeALoopbackNameOrTheBindAddress) {
  Counter c;
  const std::string p = std::to_string(c.server.port());
  for (const std::string& host : std::vector<std::string>{
           "127.0.0.1:" + p, "127.0.0.1", "localhost:" + p, "LocalHost", "[::1]:" + p, "[::1]"}) {
    EXPECT_EQ(c.get("/n", host), 200) << host;
    EXPECT_EQ(c.post("/inc", host, c.token_line()), 200) << host;
  }
  EXPECT_EQ(c.count.load(), 6);
  for (const std::string& host : std::vector<std::string>{
           "attacker.example", "attacker.example:" + p, "127.0.0.1.attacker.example:" + p,
           "localhost.attacker.example", "127.0.0.2:" + p, "127.0.0.1:x", "127.0.0.1:" + p + ":1",
           "[::1", "0.0.0.0:" + p, ""}) {
    for (const std::string& path : std::vector<std::string>{"/n", "/", "/events", "/nothing"})
      EXPECT_EQ(c.get(path, host), 403) << host << " " << path;
    EXPECT_EQ(c.post("/inc", host, c.token_line()), 403) << host;
  }
  EXPECT_EQ(c.count.load(), 6) << "a refused POST changed state";
  const std::string answer =
      exchange(c.server.port(), request_text("GET", "/n", "attacker.example"));
  EXPECT_NE(answer.find("is not this server"), std::string::npos) << answer;
}

TEST(ServerPolicy, BindAddressAndWildcardHosts) {
  // A server on 127.0.0.2 answers Host 127.0.0.2; reached through a raw socket to it.
  web::Server s("127.0.0.2");
  s.get("/n", [](const web::Request&, web::Response& r) { r.body.push_back('1'); });
  s.start(0, "test");
  EXPECT_EQ(s.url(), "http://127.0.0.2:" + std::to_string(s.port()) + "/");
  const auto ask = [&](const std::string& host) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(s.port()));
    inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return 0;
    }
    const std::string t = request_text("GET", "/n", host);
    ::send(fd, t.data(), t.size(), MSG_NOSIGNAL);
    char buf[64] = {};
    const ssize_t n = ::recv(fd, buf, sizeof buf - 1, MSG_WAITALL);
    ::close(fd);
    return n > 0 ? status_of(buf) : 0;
  };
  EXPECT_EQ(ask("127.0.0.2:" + std::to_string(s.port())), 200);
  EXPECT_EQ(ask("localhost"), 200);
  EXPECT_EQ(ask("127.0.0.3"), 403);
  EXPECT_EQ(ask("attacker.example"), 403);

  // A wildcard bind: any IP literal (which DNS rebinding cannot produce) but no other name.
  Counter any("0.0.0.0");
  EXPECT_EQ(any.server.url(), "http://127.0.0.1:" + std::to_string(any.server.port()) + "/");
  for (const std::string& host :
       std::vector<std::string>{"192.168.1.5:8765", "10.0.0.1", "[fe80::1]:80", "127.0.0.1"})
    EXPECT_EQ(any.get("/n", host), 200) << host;
  for (const std::string& host :
       std::vector<std::string>{"attacker.example", "my-laptop.lan:8765", "192.168.1.5.nip.io"})
    EXPECT_EQ(any.get("/n", host), 403) << host;
}

TEST(ServerPolicy, CrossSitePostsAreRefusedAndChangeNothing) {
  Counter c;
  const std::string same = "Origin: http://" + c.host() + "\r\n";
  const std::string text_plain = "Content-Type: text/plain\r\n";
  // The "simple" cross-site POST a web page can send without a preflight.
  const std::string answer = exchange(
      c.server.port(),
      request_text("POST", "/inc", c.host(), "Origin: http://evil.example\r\n" + text_plain, "x"));
  EXPECT_EQ(status_of(answer), 403) << answer;
  EXPECT_NE(answer.find("other web pages"), std::string::npos) << answer;
  for (const std::string& origin : std::vector<std::string>{
           "http://evil.example", "null", "http://localhost:" + std::to_string(c.server.port()),
           "https://" + c.host(), "http://" + c.host() + ".evil.example"}) {
    // A foreign Origin is refused even with the token, and on GET routes too.
    EXPECT_EQ(
        c.post("/inc", c.host(), "Origin: " + origin + "\r\n" + c.token_line() + text_plain, "x"),
        403)
        << origin;
    EXPECT_EQ(c.get("/n", c.host(), "Origin: " + origin + "\r\n"), 403) << origin;
  }
  EXPECT_EQ(c.post("/inc", c.host(), text_plain, "x"), 403) << "no Origin, no token";
  EXPECT_EQ(c.post("/inc", c.host(), "Origin: \r\n" + text_plain, "x"), 403) << "empty Origin";
  EXPECT_EQ(c.post("/inc", c.host(), std::string(web::kTokenHeader) + ": 0123\r\n"), 403);
  EXPECT_EQ(c.count.load(), 0) << "a refused POST changed state";

  EXPECT_EQ(c.post("/inc", c.host(), same + text_plain, "x"), 200) << "same origin";
  EXPECT_EQ(c.post("/inc", "LOCALHOST:" + std::to_string(c.server.port()),
                   "Origin: http://localhost:" + std::to_string(c.server.port()) + "\r\n"),
            200);
  EXPECT_EQ(c.post("/inc", c.host(), c.token_line()), 200) << "no Origin, the token";
  EXPECT_EQ(c.get("/n", c.host(), same), 200);
  EXPECT_EQ(c.count.load(), 3);

  // The page's token slot.
  EXPECT_EQ(web::with_token("<head><meta name=\"melodl-token\" content=\"\"></head>", "abc"),
            "<head><meta name=\"melodl-token\" content=\"abc\"></head>");
  EXPECT_EQ(c.server.token().size(), 32u);
  Counter other;
  EXPECT_NE(other.server.token(), c.server.token()) << "one token per server";
}

TEST(ServerPolicy, AHandlerThatThrowsIs500WithItsMessage) {
  Counter c;
  const std::string answer = exchange(c.server.port(), request_text("GET", "/boom", c.host()));
  EXPECT_EQ(status_of(answer), 500) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\n500: boom: the handler failed\n")) << answer;
  EXPECT_EQ(c.get("/n", c.host()), 200) << "the server goes on";
}

TEST(ServerPolicy, OtherMethodsAndUnknownPostsAreRefusedBeforeTheBody) {
  Counter c;
  const std::string huge = "Content-Length: 1000000000\r\n" + c.token_line();
  for (const char* method : {"PUT", "DELETE", "PATCH", "OPTIONS"}) {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(status_of(exchange(c.server.port(), request_text(method, "/inc", c.host(), huge))),
              405)
        << method;
    EXPECT_LT(ms_since(t0), 2000) << method << " waited for the body";
  }
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(status_of(exchange(c.server.port(), request_text("POST", "/nope", c.host(), huge))),
            404);
  EXPECT_LT(ms_since(t0), 2000);
  EXPECT_EQ(c.count.load(), 0);
}

TEST(ServerPolicy, BodiesOverTheCapAre413WithoutBeingRead) {
  web::ServerLimits limits;
  limits.max_body_bytes = 1000;
  Counter c("127.0.0.1", limits);
  const std::string tok = c.token_line();
  // 1 GB announced, nothing sent: refused from the headers at once (before, the server
  // waited for the body and would have buffered it whole).
  for (const std::string& extra : std::vector<std::string>{
           std::string("Content-Length: 1000000000\r\n"), std::string("Content-Length: 1001\r\n"),
           std::string("Content-Length: 1000000000\r\nExpect: 100-continue\r\n")}) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string answer =
        exchange(c.server.port(), request_text("POST", "/echo", c.host(), tok + extra));
    EXPECT_EQ(status_of(answer), 413) << extra << answer;
    EXPECT_NE(answer.find("request body over 1000 bytes"), std::string::npos) << answer;
    EXPECT_EQ(answer.find("100 Continue"), std::string::npos) << answer;
    EXPECT_LT(ms_since(t0), 2000) << extra;
  }
  // At the cap: read whole.
  auto answer = exchange(c.server.port(),
                         request_text("POST", "/echo", c.host(), tok, std::string(1000, 'a')));
  EXPECT_EQ(status_of(answer), 200) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\n1000")) << answer;
  // Chunked: within the cap read whole; a chunk passing the cap is 413.
  const std::string chunked = tok + "Transfer-Encoding: chunked\r\n";
  answer = exchange(c.server.port(), request_text("POST", "/echo", c.host(), chunked) + "1f4\r\n" +
                                         std::string(500, 'b') + "\r\n1f4\r\n" +
                                         std::string(500, 'c') + "\r\n0\r\n\r\n");
  EXPECT_EQ(status_of(answer), 200) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\n1000")) << answer;
  answer = exchange(c.server.port(), request_text("POST", "/echo", c.host(), chunked) + "3e9\r\n" +
                                         std::string(1001, 'd'));
  EXPECT_EQ(status_of(answer), 413) << answer;
  // No Content-Length and not chunked: no body (not read to the end of the connection).
  const auto t0 = std::chrono::steady_clock::now();
  answer = exchange(c.server.port(), request_text("POST", "/echo", c.host(), tok));
  EXPECT_EQ(status_of(answer), 200) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\n0")) << answer;
  EXPECT_LT(ms_since(t0), 2000);
}

TEST(ServerPolicy, StreamsBeyondTheCapAre503AndOthersAreStillAnswered) {
  web::ServerLimits limits;
  limits.max_streams = 3;
  limits.api_threads = 2;
  Counter c("127.0.0.1", limits);
  const std::string events = request_text("GET", "/events", c.host());
  std::vector<std::unique_ptr<RawConnection>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<RawConnection>(c.server.port()));
    ASSERT_TRUE(open.back()->send(events));
    ASSERT_TRUE(open.back()->read_until("event: tick", 5)) << open.back()->received();
    EXPECT_EQ(open.back()->status(), 200);
  }
  EXPECT_EQ(c.server.open_streams(), 3);
  const std::string refused = exchange(c.server.port(), events);
  EXPECT_EQ(status_of(refused), 503) << refused;
  EXPECT_NE(refused.find("at most 3"), std::string::npos) << refused;
  // Both API threads are free although three streams run.
  EXPECT_EQ(c.get("/n", c.host()), 200);
  EXPECT_EQ(c.post("/inc", c.host(), c.token_line()), 200);
  // A closed stream frees its slot (once the server notices, at its next write).
  open.pop_back();
  for (int i = 0; i < 100 && c.server.open_streams() == 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(c.server.open_streams(), 2);
  RawConnection again(c.server.port());
  ASSERT_TRUE(again.send(events));
  EXPECT_TRUE(again.read_until("event: tick", 5)) << again.received();
  EXPECT_EQ(again.status(), 200);
}

TEST(ServerPolicy, OneRequestPerConnectionAndIdleConnectionsAreClosed) {
  web::ServerLimits limits;
  limits.idle_timeout_s = 1;
  limits.api_threads = 2;
  Counter c("127.0.0.1", limits);
  // The server answers one request and closes (no keep-alive: an idle tab holds no thread).
  RawConnection once(c.server.port());
  ASSERT_TRUE(once.send(request_text("GET", "/n", c.host()) + request_text("GET", "/n", c.host())));
  const std::string answer = once.read_all(5);
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_EQ(answer.find("HTTP/1.1", 1), std::string::npos) << "a second answer: " << answer;
  // Connections that send nothing take both request threads for at most idle_timeout_s.
  const auto t0 = std::chrono::steady_clock::now();
  RawConnection idle1(c.server.port()), idle2(c.server.port());
  EXPECT_TRUE(idle1.read_all(5).empty());
  const double closed_ms = ms_since(t0);
  EXPECT_GT(closed_ms, 900);
  EXPECT_LT(closed_ms, 3500) << "the idle connection was not closed";
  EXPECT_EQ(c.get("/n", c.host()), 200);
}

TEST(ServerPolicy, AClientThatStopsReadingEndsItsStream) {
  web::ServerLimits limits;
  limits.io_timeout_s = 1;
  Counter c("127.0.0.1", limits);
  RawConnection reader(c.server.port());
  ASSERT_TRUE(reader.send(request_text("GET", "/flood", c.host())));
  ASSERT_TRUE(reader.read_until("::::", 5));  // then reads no more
  EXPECT_EQ(c.server.open_streams(), 1);
  const auto t0 = std::chrono::steady_clock::now();
  while (c.server.open_streams() > 0 && ms_since(t0) < 10000)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(c.server.open_streams(), 0) << "the stream still holds its slot";
  std::printf("stream of a client that stopped reading ended after %.0f ms\n", ms_since(t0));
}

TEST(ServerPolicy, StopEndsOpenStreams) {
  auto c = std::make_unique<Counter>();
  RawConnection s(c->server.port());
  ASSERT_TRUE(s.send(request_text("GET", "/events", c->host())));
  ASSERT_TRUE(s.read_until("event: tick", 5));
  const auto t0 = std::chrono::steady_clock::now();
  c.reset();
  EXPECT_LT(ms_since(t0), 3000);
}

TEST(ServerPolicy, ListenBacklogIsTheConfiguredOne) {
  web::ServerLimits limits;
  limits.listen_backlog = 200;
  Counter c("127.0.0.1", limits);
  // ss shows a listening socket's backlog as its Send-Q.
  const std::string cmd = "ss -ltnH 'sport = :" + std::to_string(c.server.port()) + "' 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char line[512] = {};
  const bool got = std::fgets(line, sizeof line, p) != nullptr;
  ::pclose(p);
  if (!got) GTEST_SKIP() << "ss (iproute2) not available";
  char state[32] = {};
  int recv_q = -1, send_q = -1;
  ASSERT_EQ(std::sscanf(line, "%31s %d %d", state, &recv_q, &send_q), 3) << line;
  EXPECT_EQ(send_q, 200) << line;
}
