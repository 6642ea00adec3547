// bench/serve_bench.cpp: a load test of `melodl serve` (web/compose_server.h) on loopback,
// bounded in count and time (issue 16): C concurrent clients each send R compose requests
// of one melody of about 300 notes; prints the throughput, p50/p99 latency, the 429 count
// (designed: the bounded queue), other failures (should be 0) and the process's peak RSS,
// then the server-side sampling time of one 300-note melody (median of 21 requests alone).
// The model is a checkpoint or run directory (argument 1), else a random network of the
// seed size (2 x 200, V = 60) whose end marker is biased away, so that every melody runs to
// the length asked for (the time per symbol is a trained model's; only the notes differ).
// Run: build/bench/serve_bench [MODEL] [--clients 50] [--requests 10] [--workers 2] [--queue 16]
// Results: docs/serve.md "Measurements".
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "lstm/checkpoint.h"
#include "pipeline/corpus.h"
#include "tests/web/raw_http.h"
#include "web/compose_server.h"

namespace fs = std::filesystem;
namespace web = melodl::web;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string model;
  int clients = 50, requests = 10, workers = 2, queue = 16, length = 620;
  double max_seconds = 300;
};

std::string seed_size_model(const fs::path& dir) {
  fs::create_directories(dir);
  const auto vocab = melodl::pipeline::Vocabulary::full(melodl::pipeline::LineKind::melody);
  melodl::lstm::NetworkConfig c;
  c.vocab = vocab.size();
  c.layers = 2;
  c.hidden = 200;
  melodl::lstm::Network net(c);
  // A random network draws the end marker '>' about once in 60 symbols; bias it away, so
  // that a melody runs to the length asked for (the grammar still ends it in time).
  net.params()[net.layout().by + static_cast<std::size_t>(vocab.end_id())] = -30.0f;
  const fs::path file = dir / "seed-size.safetensors";
  melodl::lstm::save_checkpoint(file, net, vocab.stored());
  return file.string();
}

struct Outcome {
  int status = 0;
  double ms = 0;
  std::string body;
};

Outcome compose(int port, const std::string& body) {
  const std::string host = "127.0.0.1:" + std::to_string(port);
  const auto t0 = Clock::now();
  const std::string raw =
      web::testing::exchange(port,
                             web::testing::request_text("POST", "/api/compose", host,
                                                        "Origin: http://" + host + "\r\n", body),
                             120);
  Outcome o;
  o.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  o.status = web::testing::status_of(raw);
  if (const auto at = raw.find("\r\n\r\n"); at != std::string::npos) o.body = raw.substr(at + 4);
  return o;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--clients")
      o.clients = next();
    else if (a == "--requests")
      o.requests = next();
    else if (a == "--workers")
      o.workers = next();
    else if (a == "--queue")
      o.queue = next();
    else if (a == "--length")
      o.length = next();
    else
      o.model = a;
  }
  if (o.clients < 1 || o.clients > 200 || o.requests < 1 || o.requests > 100) {
    std::fprintf(stderr, "serve_bench: --clients 1..200, --requests 1..100\n");
    return 2;
  }
  const fs::path dir = fs::temp_directory_path() / "melodl-serve-bench";
  if (o.model.empty()) o.model = seed_size_model(dir);
  web::ComposeServerOptions so;
  so.workers = o.workers;
  so.queue = o.queue;
  web::ComposeServer server(web::load_served_models({o.model}), "127.0.0.1", 0, so);
  const std::string name = server.models().front()->card.name;
  const std::string body =
      nlohmann::json{{"model", name}, {"length", o.length}, {"seed", 1}}.dump();

  // 1. The server-side time of one melody, alone.
  std::vector<double> alone;
  std::size_t notes = 0;
  for (int i = 0; i < 21; ++i) {
    const Outcome r = compose(server.port(), body);
    if (r.status != 200) {
      std::fprintf(stderr, "serve_bench: %d %s\n", r.status, r.body.c_str());
      return 1;
    }
    const auto j = nlohmann::json::parse(r.body);
    alone.push_back(j.at("compose_ms").get<double>());
    notes = j.at("pieces")[0].at("notes").size();
  }
  std::printf(
      "one melody of %zu notes (length %d symbols), model %s (%d x %d): server-side "
      "sampling median %.1f ms (min %.1f, max %.1f, 21 requests)\n",
      notes, o.length, name.c_str(), server.models().front()->card.layers,
      server.models().front()->card.hidden, percentile(alone, 0.5),
      *std::min_element(alone.begin(), alone.end()), *std::max_element(alone.begin(), alone.end()));

  // 2. The load: clients x requests, each client sending its next request when the last
  // is answered; a 429 is counted and not retried.
  std::mutex mu;
  std::vector<double> ok_ms;
  int ok = 0, busy = 0, failed = 0;
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(o.max_seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c)
    threads.emplace_back([&] {
      for (int r = 0; r < o.requests && Clock::now() < deadline; ++r) {
        const Outcome out = compose(server.port(), body);
        std::lock_guard lock(mu);
        if (out.status == 200) {
          ++ok;
          ok_ms.push_back(out.ms);
        } else if (out.status == 429) {
          ++busy;
        } else {
          ++failed;
          if (failed <= 3) std::fprintf(stderr, "failure: %d %s\n", out.status, out.body.c_str());
        }
      }
    });
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "%d clients x %d requests, %d workers, queue %d: %.1f s, %d answered 200 (%.1f "
      "melodies/s), latency p50 %.0f ms p99 %.0f ms, %d answered 429, %d other "
      "failures, peak RSS %.0f MB (server and clients in one process)\n",
      o.clients, o.requests, o.workers, o.queue, secs, ok, ok / secs, percentile(ok_ms, 0.5),
      percentile(ok_ms, 0.99), busy, failed, static_cast<double>(ru.ru_maxrss) / 1024.0);
  return failed == 0 ? 0 : 1;
}
