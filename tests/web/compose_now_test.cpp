// tests/web/compose_now_test.cpp: the live view's POST /api/compose-now on loopback with the
// real handler (web/compose_now.h) and a training thread of random networks: a same-origin
// POST answers notes and a MIDI file sampled from the weights the training thread holds at
// that moment (switching the thread's weights switches the notes, which equal composing from
// those weights directly), from a paused training without letting it go on; a foreign Origin,
// a foreign Host and a POST without Origin or token are 403 before any work; bad fields are
// 400 naming the field; a second request while one runs is 429 with Retry-After, and a
// training that reaches no update in time is 503 with a message.
// Run: ctest -R ComposeNow --output-on-failure
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "lstm/network.h"
#include "pipeline/corpus.h"
#include "tests/web/raw_http.h"
#include "web/compose_now.h"
#include "web/compose_pieces.h"
#include "web/compose_request.h"
#include "web/viz_server.h"

namespace web = melodl::web;
namespace lstm = melodl::lstm;
using nlohmann::json;
using web::testing::request_text;
using web::testing::status_of;

namespace {

lstm::NetworkConfig small_config(const melodl::pipeline::Vocabulary& vocab, std::uint64_t seed) {
  lstm::NetworkConfig c;
  c.vocab = vocab.size();
  c.layers = 1;
  c.hidden = 16;
  c.seed = seed;
  return c;
}

// A training loop stand-in: after each "update" it calls on_step with the weights of
// network A or B (`use_b`), as the training thread does; `run` false: no updates (as while
// validating).
struct Training {
  Training(web::VizListener& l, std::vector<float> a, std::vector<float> b)
      : a_(std::move(a)), b_(std::move(b)), thread_([&l, this] {
          l.set_stop_flag(&stop);
          std::vector<float> g(a_.size(), 0.0f);
          for (std::int64_t i = 1; !stop.load();) {
            if (!run.load()) {
              std::this_thread::sleep_for(std::chrono::milliseconds(2));
              continue;
            }
            const auto& w = use_b.load() ? b_ : a_;
            steps.store(i);
            l.on_step(w, g, i, 1.0, 0.01);
            ++i;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
          }
        }) {}
  ~Training() {
    stop.store(true);
    thread_.join();
  }
  void wait_steps(std::int64_t n) const {
    const std::int64_t to = steps.load() + n;
    for (int i = 0; i < 2000 && steps.load() < to; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::atomic<bool> stop{false}, run{true}, use_b{false};
  std::atomic<std::int64_t> steps{0};

 private:
  std::vector<float> a_, b_;
  std::thread thread_;
};

struct Answer {
  int status = 0;
  std::string raw;
  json j() const { return json::parse(raw.substr(raw.find("\r\n\r\n") + 4), nullptr, false); }
};

struct Fixture {
  melodl::pipeline::Vocabulary vocab = melodl::pipeline::Vocabulary::full();
  lstm::Network a{small_config(vocab, 7)}, b{small_config(vocab, 8)};
  web::VizListener listener{a.layout(), {}};
  Training training{
      listener, {a.params().begin(), a.params().end()}, {b.params().begin(), b.params().end()}};
  std::chrono::milliseconds wait;
  web::VizServer server;
  explicit Fixture(std::chrono::milliseconds w = std::chrono::seconds(5))
      : wait(w),
        server(listener, "127.0.0.1", 0, {},
               web::compose_now_handler(listener, {a.config(), vocab, wait})) {}
  ~Fixture() { listener.shutdown(); }
  std::string host() const { return "127.0.0.1:" + std::to_string(server.port()); }
  std::string origin() const { return "Origin: http://" + host() + "\r\n"; }
  Answer post(const std::string& body, const std::string& extra) const {
    return post_as(host(), body, extra);
  }
  Answer post(const std::string& body) const { return post(body, origin()); }
  Answer post_as(const std::string& host_header, const std::string& body,
                 const std::string& extra) const {
    Answer r;
    r.raw = web::testing::exchange(server.port(),
                                   request_text("POST", "/api/compose-now", host_header,
                                                extra + "Content-Type: application/json\r\n", body),
                                   30);
    r.status = status_of(r.raw);
    return r;
  }
};

std::vector<std::pair<int, double>> pitches_and_starts(const json& notes) {
  std::vector<std::pair<int, double>> out;
  for (const auto& n : notes)
    out.emplace_back(n.at("pitch").get<int>(), n.at("start").get<double>());
  return out;
}

}  // namespace

TEST(ComposeNow, SameOriginPostComposesFromTheWeightsBeingTrained) {
  Fixture f;
  const std::string body = R"({"seed": 5, "length": 120})";
  const Answer first = f.post(body);
  ASSERT_EQ(first.status, 200) << first.raw;
  const json j = first.j();
  EXPECT_EQ(j.at("model"), "training");
  EXPECT_EQ(j.at("kind"), "melody");
  EXPECT_GE(j.at("step").get<std::int64_t>(), 1);
  EXPECT_LE(j.at("step").get<std::int64_t>(), f.training.steps.load());
  ASSERT_EQ(j.at("pieces").size(), 1u);
  const json& notes = j.at("pieces")[0].at("notes");
  ASSERT_GT(notes.size(), 0u) << first.raw;
  EXPECT_EQ(j.at("midi").get<std::string>().rfind("data:audio/midi;base64,TVRoZA", 0), 0u)
      << "a data: URL of a MIDI file (MThd)";
  EXPECT_EQ(pitches_and_starts(f.post(body).j().at("pieces")[0].at("notes")),
            pitches_and_starts(notes))
      << "the same weights and seed give the same notes";

  // The training thread moves on to other weights: the notes are theirs.
  f.training.use_b.store(true);
  f.training.wait_steps(3);
  const Answer second = f.post(body);
  ASSERT_EQ(second.status, 200) << second.raw;
  const json notes_b = second.j().at("pieces")[0].at("notes");
  EXPECT_NE(pitches_and_starts(notes_b), pitches_and_starts(notes));
  json req = json::parse(body);
  req["model"] = "training";
  const web::Composed direct =
      web::compose_pieces(f.b, f.vocab, web::parse_compose_request(req.dump(), {}));
  EXPECT_EQ(pitches_and_starts(notes_b),
            pitches_and_starts(json(direct.reply).at("pieces")[0].at("notes")))
      << "the notes of composing from the new weights directly";

  // Paused: the weights of the pause, and the training stays paused.
  f.listener.pause();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::int64_t paused_at = f.training.steps.load();
  const Answer paused = f.post(body);
  ASSERT_EQ(paused.status, 200) << paused.raw;
  EXPECT_EQ(paused.j().at("step").get<std::int64_t>(), paused_at);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(f.training.steps.load(), paused_at) << "still paused";
  f.listener.resume();
}

TEST(ComposeNow, ForeignOriginHostAndMissingTokenAreRefusedBadFields400) {
  Fixture f;
  const std::string port = std::to_string(f.server.port());
  const Answer foreign_origin = f.post("{}", "Origin: http://evil.example\r\n");
  EXPECT_EQ(foreign_origin.status, 403) << foreign_origin.raw;
  // DNS rebinding: a page of evil.example (resolved to 127.0.0.1) posting to its own origin.
  const Answer foreign_host =
      f.post_as("evil.example:" + port, "{}", "Origin: http://evil.example:" + port + "\r\n");
  EXPECT_EQ(foreign_host.status, 403) << foreign_host.raw;
  EXPECT_EQ(f.post("{}", "").status, 403) << "neither Origin nor token";
  EXPECT_EQ(f.post("{}", "Origin: null\r\n").status, 403);
  EXPECT_EQ(f.post("{}", std::string(web::kTokenHeader) + ": " + f.server.token() + "\r\n").status,
            200)
      << "the page's token instead of Origin";

  const Answer many = f.post(R"({"count": 2})");
  EXPECT_EQ(many.status, 400) << many.raw;
  EXPECT_NE(many.j().value("error", "").find("count"), std::string::npos) << many.raw;
  const Answer model = f.post(R"({"model": "bach"})");
  EXPECT_EQ(model.status, 400);
  EXPECT_NE(model.j().value("error", "").find("model"), std::string::npos) << model.raw;
  EXPECT_EQ(f.post(R"({"length": -3})").status, 400);
  EXPECT_EQ(f.post("[1,2").status, 400);
  const Answer big = f.post("", f.origin() + "Content-Length: 1000000\r\n");  // none sent
  EXPECT_EQ(big.status, 413) << "over the 64 KiB body cap, refused from the headers";
  EXPECT_EQ(f.post("").status, 200) << "an empty body: the defaults";
}

TEST(ComposeNow, OneAtATime429AndNoUpdateInTime503) {
  Fixture f(std::chrono::milliseconds(1500));
  f.training.run.store(false);  // e.g. validating: no update hands the weights over
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Answer first;
  std::thread waiting([&] { first = f.post("{}"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const Answer busy = f.post("{}");
  EXPECT_EQ(busy.status, 429) << busy.raw;
  EXPECT_NE(busy.raw.find("Retry-After: 1"), std::string::npos) << busy.raw;
  EXPECT_NE(busy.j().value("error", "").find("busy"), std::string::npos) << busy.raw;
  waiting.join();
  EXPECT_EQ(first.status, 503) << first.raw;
  EXPECT_NE(first.j().value("error", "").find("update"), std::string::npos) << first.raw;

  f.training.run.store(true);
  const Answer after = f.post("{}");
  EXPECT_EQ(after.status, 200) << "free again, and the training hands its weights over: "
                               << after.raw;
}
