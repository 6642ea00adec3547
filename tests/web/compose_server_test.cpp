// tests/web/compose_server_test.cpp: `melodl serve`'s API on loopback (web/compose_server.h,
// docs/serve.md): the model cards, composing from a primer and from nothing, the same seed
// giving the same pieces, the MIDI (and WAV) files, every bad input answered with the right
// 4xx naming the field while the server keeps answering, the policy of the shared server
// layer (foreign Origin and Host refused, POSTs need Origin or the token), file names that
// try to leave the files folder refused, 429 with Retry-After when the work queue is full,
// and generated files expiring. The models are random networks saved as checkpoints (a
// melody and a harmony model): composing is grammar-constrained, so every piece decodes.
// Run: ctest -R ComposeServer --output-on-failure
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "midi/reader.h"
#include "midi/writer.h"
#include "pipeline/corpus.h"
#include "tests/web/raw_http.h"
#include "tests/web/serve_models.h"
#include "web/compose_server.h"

namespace fs = std::filesystem;
namespace web = melodl::web;
using nlohmann::json;
using web::testing::request_text;
using web::testing::save_model;
using web::testing::status_of;

namespace {

fs::path test_dir(const std::string& name) {
  const fs::path d = fs::path(MELODL_BINARY_DIR) / "tests" / "serve" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

struct Answer {
  int status = 0;
  std::string head, body;
  json j() const { return json::parse(body, nullptr, false); }
};

Answer split(const std::string& raw) {
  Answer a;
  a.status = status_of(raw);
  const auto at = raw.find("\r\n\r\n");
  a.head = raw.substr(0, at);
  if (at != std::string::npos) a.body = raw.substr(at + 4);
  return a;
}

struct Client {
  int port;
  std::string host() const { return "127.0.0.1:" + std::to_string(port); }
  std::string origin() const { return "Origin: http://" + host() + "\r\n"; }
  Answer get(const std::string& path, double seconds = 30) const {
    return split(web::testing::exchange(port, request_text("GET", path, host()), seconds));
  }
  Answer post(const std::string& body, const std::string& extra = "") const {
    return split(web::testing::exchange(
        port,
        request_text("POST", "/api/compose", host(),
                     (extra.empty() ? origin() : extra) + "Content-Type: application/json\r\n",
                     body),
        60));
  }
  Answer compose(const json& body) const { return post(body.dump()); }
};

json five_notes() {
  json p = json::array();
  const int pitches[] = {60, 62, 64, 65, 67};
  for (int i = 0; i < 5; ++i)
    p.push_back({{"pitch", pitches[i]}, {"start", 0.3 * i}, {"duration", i == 4 ? 0.6 : 0.25}});
  return p;
}

class ComposeServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = test_dir("models");
    save_model(dir, "tune", melodl::pipeline::LineKind::melody, 24);
    save_model(dir, "duet", melodl::pipeline::LineKind::harmony, 24);
    server_ = new web::ComposeServer(web::load_served_models({dir.string()}), "127.0.0.1", 0);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  Client client() const { return {server_->port()}; }
  static web::ComposeServer* server_;
};
web::ComposeServer* ComposeServerTest::server_ = nullptr;

TEST_F(ComposeServerTest, ModelsAreListedWithTheirCards) {
  const Answer a = client().get("/api/models");
  ASSERT_EQ(a.status, 200) << a.body;
  const json models = a.j().at("models");
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].at("name"), "duet");
  EXPECT_EQ(models[0].at("kind"), "harmony");
  EXPECT_EQ(models[1].at("name"), "tune");
  EXPECT_EQ(models[1].at("kind"), "melody");
  EXPECT_EQ(models[1].at("layers"), 1);
  EXPECT_EQ(models[1].at("hidden"), 24);
  EXPECT_EQ(models[1].at("vocab"), 60);
  EXPECT_GT(models[1].at("parameters").get<int>(), 1000);
  EXPECT_TRUE(models[1].at("valid_bits_per_note").is_null()) << "no run state: unknown";
  EXPECT_EQ(models[1].at("trained").get<std::string>().size(), 20u);
  const Answer page = client().get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find(server_->token()), std::string::npos) << "the page carries the token";
}

TEST_F(ComposeServerTest, AMelodyContinuesThePrimerAndItsMidiReadsBack) {
  const Answer a = client().compose(
      {{"model", "tune"}, {"primer", five_notes()}, {"length", 120}, {"seed", 11}, {"count", 2}});
  ASSERT_EQ(a.status, 200) << a.body;
  const json r = a.j();
  ASSERT_EQ(r.at("pieces").size(), 2u);
  for (const json& p : r.at("pieces")) {
    const json& notes = p.at("notes");
    ASSERT_GT(notes.size(), 5u) << "the model added notes to the primer";
    const int pitches[] = {60, 62, 64, 65, 67};
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(notes[i].at("pitch"), pitches[i]);
      EXPECT_TRUE(notes[i].at("primer").get<bool>());
    }
    EXPECT_FALSE(notes[5].at("primer").get<bool>());
    EXPECT_NEAR(notes[1].at("start").get<double>(), 0.3, 0.05) << "the primer's rhythm is kept";
    EXPECT_EQ(p.at("symbols").get<std::string>().front(), '<');
  }
  const Answer midi = client().get(r.at("pieces")[0].at("midi").get<std::string>());
  ASSERT_EQ(midi.status, 200);
  EXPECT_NE(midi.head.find("audio/midi"), std::string::npos);
  const fs::path file = test_dir("midi") / "piece.mid";
  { std::ofstream(file, std::ios::binary) << midi.body; }
  const auto song = melodl::midi::read_file(file);
  ASSERT_TRUE(song) << song.error().what();
  ASSERT_GE(song->tracks.size(), 1u);
  const auto& notes = song->tracks.back().notes;
  ASSERT_EQ(notes.size(), r.at("pieces")[0].at("notes").size());
  EXPECT_EQ(notes[0].pitch, 60);
  EXPECT_EQ(notes[4].pitch, 67);
  if (server_->wav_available()) {
    const Answer wav = client().get(r.at("pieces")[0].at("wav").get<std::string>(), 60);
    ASSERT_EQ(wav.status, 200) << wav.body;
    EXPECT_EQ(wav.body.substr(0, 4), "RIFF");
    EXPECT_GT(wav.body.size(), 44100u);
  } else {
    EXPECT_TRUE(r.at("pieces")[0].at("wav").is_null());
  }
}

std::string base64(const std::string& bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (const unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) out += k[(acc >> (bits -= 6)) & 63];
  }
  if (bits > 0) out += k[(acc << (6 - bits)) & 63];
  while (out.size() % 4) out += '=';
  return out;
}

// A MIDI file of two voices (C4 E4 G4 ... below, C5 D5 E5 F5 G5 above), as base64.
std::string two_voice_midi() {
  melodl::midi::Song song = melodl::midi::make_song(480, 120.0);
  melodl::midi::Track t;
  const int upper[] = {72, 74, 76, 77, 79};
  for (int i = 0; i < 5; ++i) {
    melodl::midi::Note hi, lo;
    hi.pitch = static_cast<std::uint8_t>(upper[i]);
    lo.pitch = static_cast<std::uint8_t>(48 + 4 * i);
    hi.velocity = lo.velocity = 90;
    hi.start_tick = lo.start_tick = 480 * i;
    hi.end_tick = lo.end_tick = 480 * i + 400;
    t.notes.push_back(lo);
    t.notes.push_back(hi);
  }
  t.end_tick = 480 * 5;
  song.tracks.push_back(t);
  const fs::path file = test_dir("upload") / "two.mid";
  melodl::midi::write_file(file, song);
  std::ifstream in(file, std::ios::binary);
  return base64(std::string(std::istreambuf_iterator<char>(in), {}));
}

TEST_F(ComposeServerTest, AMidiFileUploadPrimesWithItsHighestVoice) {
  const Answer a = client().compose(
      {{"model", "tune"}, {"primer_midi", two_voice_midi()}, {"length", 80}, {"seed", 2}});
  ASSERT_EQ(a.status, 200) << a.body;
  const json notes = a.j().at("pieces")[0].at("notes");
  const int upper[] = {72, 74, 76, 77, 79};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(notes[static_cast<std::size_t>(i)].at("pitch"), upper[i]);
    EXPECT_TRUE(notes[static_cast<std::size_t>(i)].at("primer").get<bool>());
  }
  EXPECT_NEAR(notes[1].at("start").get<double>(), 0.5, 0.05) << "one beat at 120 bpm";
  const Answer duet = client().compose({{"model", "duet"}, {"primer_midi", two_voice_midi()}});
  ASSERT_EQ(duet.status, 200) << duet.body;
  std::vector<int> given;
  const json duet_notes = duet.j().at("pieces")[0].at("notes");
  for (const json& n : duet_notes)
    if (n.at("voice") == 1) given.push_back(n.at("pitch").get<int>());
  EXPECT_EQ(given, (std::vector<int>{72, 74, 76, 77, 79})) << "accompanying the file's top voice";
}

TEST_F(ComposeServerTest, TheSameSeedGivesTheSamePieces) {
  const json req = {{"model", "tune"}, {"length", 200},      {"count", 3},
                    {"seed", 42},      {"temperature", 1.2}, {"top_k", 20}};
  const Answer a = client().compose(req), b = client().compose(req);
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(a.j().at("pieces")[0].at("symbols"), b.j().at("pieces")[0].at("symbols"));
  EXPECT_EQ(a.j().at("pieces")[2].at("notes"), b.j().at("pieces")[2].at("notes"));
  EXPECT_NE(a.j().at("id"), b.j().at("id")) << "each request has its own files";
  json other = req;
  other["seed"] = 43;
  const Answer c = client().compose(other);
  EXPECT_NE(a.j().at("pieces")[0].at("symbols"), c.j().at("pieces")[0].at("symbols"));
}

TEST_F(ComposeServerTest, AHarmonyModelComposesTwoVoicesAndAccompaniesThePrimer) {
  const Answer free = client().compose({{"model", "duet"}, {"length", 400}, {"seed", 3}});
  ASSERT_EQ(free.status, 200) << free.body;
  EXPECT_EQ(free.j().at("kind"), "harmony");
  std::set<int> voices;
  const json free_piece = free.j().at("pieces")[0];
  for (const json& n : free_piece.at("notes")) voices.insert(n.at("voice").get<int>());
  EXPECT_EQ(voices, (std::set<int>{0, 1}));
  const Answer duet = client().compose({{"model", "duet"}, {"primer", five_notes()}, {"seed", 3}});
  ASSERT_EQ(duet.status, 200) << duet.body;
  std::vector<int> upper;
  const json duet_piece = duet.j().at("pieces")[0];
  for (const json& n : duet_piece.at("notes"))
    if (n.at("voice") == 1) {
      EXPECT_TRUE(n.at("primer").get<bool>());
      upper.push_back(n.at("pitch").get<int>());
    }
  EXPECT_EQ(upper, (std::vector<int>{60, 62, 64, 65, 67})) << "the given voice, unchanged";
}

TEST_F(ComposeServerTest, BadInputsAreRefusedNamingTheFieldAndTheServerGoesOn) {
  json many = json::array();
  for (int i = 0; i < 300; ++i)
    many.push_back({{"pitch", 60}, {"start", i * 0.1}, {"duration", 0.1}});
  const struct {
    std::string body;
    int status;
    std::string says;
  } cases[] = {
      {R"({"model":"nope"})", 400, "model: no model named 'nope'"},
      {R"({"length":100})", 400, "model: missing"},
      {R"({"model":"tune","length":-5})", 400, "length: must be an integer from 4 to 2000, got -5"},
      {R"({"model":"tune","count":100000})", 400, "count: must be an integer from 1 to 16"},
      {R"({"model":"tune","count":1.5})", 400, "count: must be an integer"},
      {R"({"model":"tune","seed":"x"})", 400, "seed: must be an integer"},
      {R"({"model":"tune","seed":-1})", 400, "seed: must be an integer from 0"},
      {R"({"model":"tune","temperature":true})", 400, "temperature: must be a number"},
      {R"({"model":"tune","temperature":9})", 400, "temperature: must be a number >= 0"},
      {R"({"model":"tune","tempo":0})", 400, "tempo: must be a number >= 20"},
      {R"({"model":"tune","program":128})", 400, "program: must be an integer from 0 to 127"},
      {R"({"model":"tune","top_k":-1})", 400, "top_k:"},
      {R"({"model":5})", 400, "model: must be a model name"},
      {R"({"model":"tune","bogus":1})", 400, "bogus: unknown field"},
      {R"({"model":"tune",)", 400, "body: not valid JSON"},
      {R"([1,2])", 400, "body: must be a JSON object"},
      {"", 400, "body: not valid JSON"},
      {R"({"model":"tune","primer":"C D E"})", 400, "primer: must be an array"},
      {R"({"model":"tune","primer":[{"pitch":60,"start":0}]})", 400, "primer[0].duration: missing"},
      {R"({"model":"tune","primer":[{"pitch":200,"start":0,"duration":1}]})", 400,
       "primer[0].pitch: must be an integer from 0 to 127"},
      {R"({"model":"tune","primer":[{"pitch":60,"start":0,"duration":0}]})", 400,
       "primer[0].duration: must be a number > 0"},
      {R"({"model":"tune","primer":[{"pitch":60,"start":0,"duration":1,"x":1}]})", 400,
       "primer[0].x: unknown field"},
      {json{{"model", "tune"}, {"primer", many}}.dump(), 413, "primer: 300 notes, at most 256"},
      {R"({"model":"tune","primer_midi":"TVRoZAAAAAYAAQABAeBNVHJrAAAAEAA="})", 400,
       "primer_midi: not a readable MIDI file"},
      {R"({"model":"tune","primer_midi":"TVRoZAAAAAYAAQABAeBNVHJrAAAAAAA="})", 400,
       "primer_midi: no notes"},
      {R"({"model":"tune","primer_midi":"not*base64"})", 400, "primer_midi: not base64"},
      {R"({"model":"tune","primer_midi":"aGVsbG8gd29ybGQ="})", 400,
       "primer_midi: not a readable MIDI file"},
      {R"({"model":"tune","primer_midi":17})", 400, "primer_midi: must be a MIDI file in base64"},
      {R"({"model":"tune","primer":[{"pitch":60,"start":0,"duration":1}],"primer_midi":"AA=="})",
       400, "primer_midi: give primer or primer_midi, not both"},
      {R"({"model":"tune","primer":[{"pitch":60,"start":0,"duration":1},{"pitch":62,"start":500,"duration":1}]})",
       413, "primer: spans 500 s, at most 120"},
  };
  for (const auto& c : cases) {
    const Answer a = client().post(c.body);
    EXPECT_EQ(a.status, c.status) << c.body << " -> " << a.body;
    EXPECT_NE(a.body.find(c.says), std::string::npos) << c.body << " -> " << a.body;
    EXPECT_TRUE(a.j().contains("error")) << a.body;
  }
  // A body over the server's cap (an oversize upload): 413 before it is read.
  const Answer big = client().post(std::string(100 * 1024, ' '));
  EXPECT_EQ(big.status, 413) << big.body;
  const Answer upload =
      client().post(json{{"model", "tune"}, {"primer_midi", std::string(200 * 1024, 'A')}}.dump());
  EXPECT_EQ(upload.status, 413) << upload.body;
  EXPECT_EQ(client().get("/api/models").status, 200) << "still answering";
  EXPECT_EQ(client().compose({{"model", "tune"}, {"length", 50}}).status, 200);
}

TEST_F(ComposeServerTest, ForeignOriginAndHostAreRefused) {
  const Client c = client();
  const std::string body = R"({"model":"tune","length":50})";
  EXPECT_EQ(c.post(body, "Origin: http://evil.example\r\n").status, 403);
  EXPECT_EQ(c.post(body, "Origin: null\r\n").status, 403);
  EXPECT_EQ(c.post(body, "X-Nothing: 1\r\n").status, 403) << "no Origin, no token";
  EXPECT_EQ(c.post(body, std::string(web::kTokenHeader) + ": " + server_->token() + "\r\n").status,
            200);
  EXPECT_EQ(
      status_of(web::testing::exchange(c.port, request_text("GET", "/api/models", "evil.example"))),
      403);
  EXPECT_EQ(status_of(web::testing::exchange(
                c.port, request_text("POST", "/api/compose", "evil.example:80",
                                     "Origin: http://evil.example:80\r\n", body))),
            403)
      << "DNS rebinding";
}

TEST_F(ComposeServerTest, FileRoutesCannotLeaveTheFilesFolder) {
  const Answer a = client().compose({{"model", "tune"}, {"length", 50}});
  ASSERT_EQ(a.status, 200);
  const std::string id = a.j().at("id");
  for (const std::string& path : std::vector<std::string>{
           "/api/file?id=../../etc&name=passwd", "/api/file?id=" + id + "&name=../../../etc/passwd",
           "/api/file?id=" + id + "&name=piece-01.mid/../../x",
           "/api/file?id=" + id + "&name=%2e%2e%2fpiece-01.mid",
           "/api/file?id=%2e%2e%2f%2e%2e%2f" + id.substr(6) + "&name=piece-01.mid",
           "/api/file?id=" + id + "&name=config.json", "/api/file?id=" + id})
    EXPECT_EQ(client().get(path).status, 400) << path;
  for (const std::string& path : std::vector<std::string>{
           "/api/../../etc/passwd", "/api/file/../../../etc/passwd", "/" + id + "/piece-01.mid",
           "/api/file?id=" + std::string(32, 'a') + "&name=piece-01.mid",
           "/api/file?id=" + id + "&name=piece-09.mid"})
    EXPECT_EQ(client().get(path).status, 404) << path;
  EXPECT_EQ(client().get("/api/file?id=" + id + "&name=piece-01.mid").status, 200);
}

// A style-conditioned model (issue 15): its card lists the styles, a request picks one, and
// a request without one, with one it lacks, or with one for an unstyled model is refused
// naming the field and the choices.
TEST(ComposeServerStyles, AStyledModelComposesInTheChosenStyle) {
  const fs::path dir = test_dir("styled");
  save_model(dir, "composers", melodl::pipeline::LineKind::melody, 24, {"bach", "folk"});
  save_model(dir, "plain", melodl::pipeline::LineKind::melody, 24);
  web::ComposeServer server(web::load_served_models({dir.string()}), "127.0.0.1", 0);
  const Client c{server.port()};
  const json models = c.get("/api/models").j().at("models");
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].at("name"), "composers");
  EXPECT_EQ(models[0].at("styles"), json({"bach", "folk"}));
  EXPECT_EQ(models[1].at("styles"), json::array()) << "an unstyled model lists none";
  for (const char* style : {"bach", "folk"}) {
    const Answer a = c.compose(
        {{"model", "composers"}, {"style", style}, {"length", 60}, {"count", 2}, {"seed", 5}});
    ASSERT_EQ(a.status, 200) << style << ": " << a.body;
    ASSERT_EQ(a.j().at("pieces").size(), 2u);
    for (const json& p : a.j().at("pieces")) {
      const std::string text = p.at("symbols").get<std::string>();
      EXPECT_EQ(text.front(), '<');
      EXPECT_GT(p.at("notes").size(), 0u) << style;
    }
  }
  const struct {
    json body;
    std::string says;
  } refused[] = {
      {{{"model", "composers"}},
       "style: missing: this model composes in one of its styles (bach, folk)"},
      {{{"model", "composers"}, {"style", "mozart"}},
       "style: 'mozart' is not one of this model's styles (bach, folk)"},
      {{{"model", "plain"}, {"style", "bach"}}, "style: this model is not style-conditioned"},
      {{{"model", "composers"}, {"style", 5}}, "style: must be a style name"},
      {{{"model", "composers"}, {"style", ""}}, "style: must be a style name"},
  };
  for (const auto& r : refused) {
    const Answer a = c.compose(r.body);
    EXPECT_EQ(a.status, 400) << r.body.dump() << ": " << a.body;
    EXPECT_NE(a.body.find(r.says), std::string::npos) << r.body.dump() << ": " << a.body;
  }
  EXPECT_EQ(c.compose({{"model", "plain"}, {"length", 40}}).status, 200) << "the server goes on";
}

TEST(ComposeServerLoad, OverCapacityIsAnswered429WithRetryAfterAtOnce) {
  const fs::path dir = test_dir("load");
  save_model(dir, "big", melodl::pipeline::LineKind::melody, 256);
  web::ComposeServerOptions o;
  o.workers = 1;
  o.queue = 1;
  web::ComposeServer server(web::load_served_models({dir.string()}), "127.0.0.1", 0, o);
  const Client c{server.port()};
  const std::string body = R"({"model":"big","length":2000,"count":16,"temperature":1.5})";
  constexpr int kClients = 12;
  std::vector<Answer> answers(kClients);
  std::vector<double> seconds(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i)
    threads.emplace_back([&, i] {
      const auto t0 = std::chrono::steady_clock::now();
      answers[static_cast<std::size_t>(i)] = c.post(body);
      seconds[static_cast<std::size_t>(i)] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
  for (auto& t : threads) t.join();
  int ok = 0, busy = 0;
  for (int i = 0; i < kClients; ++i) {
    const Answer& a = answers[static_cast<std::size_t>(i)];
    if (a.status == 200) ++ok;
    if (a.status == 429) {
      ++busy;
      EXPECT_NE(a.head.find("Retry-After: "), std::string::npos) << a.head;
      EXPECT_NE(a.body.find("busy: 1 workers and 1 waiting jobs"), std::string::npos) << a.body;
      EXPECT_LT(seconds[static_cast<std::size_t>(i)], 2.0) << "a 429 does not wait";
    }
    EXPECT_TRUE(a.status == 200 || a.status == 429) << a.status << " " << a.body;
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1) << "12 heavy requests on 1 worker with 1 queue slot";
  EXPECT_EQ(c.get("/api/models").status, 200);
  EXPECT_EQ(c.post(R"({"model":"big","length":20})").status, 200) << "free again";
}

TEST(ComposeServerFiles, GeneratedFilesExpireAndGoWithTheServer) {
  const fs::path dir = test_dir("expire");
  save_model(dir, "tune", melodl::pipeline::LineKind::melody, 16);
  web::ComposeServerOptions o;
  o.max_results = 2;
  fs::path files;
  {
    web::ComposeServer server(web::load_served_models({dir.string()}), "127.0.0.1", 0, o);
    files = server.files_dir();
    const Client c{server.port()};
    std::vector<std::string> urls;
    for (int i = 0; i < 3; ++i) {
      const Answer a = c.compose({{"model", "tune"}, {"length", 40}});
      ASSERT_EQ(a.status, 200);
      urls.push_back(a.j().at("pieces")[0].at("midi"));
    }
    EXPECT_EQ(c.get(urls[0]).status, 404) << "the oldest of 3 with max_results 2";
    EXPECT_EQ(c.get(urls[2]).status, 200);
    std::size_t folders = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(files)) ++folders;
    EXPECT_EQ(folders, 2u);
  }
  EXPECT_FALSE(fs::exists(files)) << "the temporary folder goes with the server";
  o.max_results = 100;
  o.file_ttl_s = 1;
  web::ComposeServer server(web::load_served_models({dir.string()}), "127.0.0.1", 0, o);
  const Client c{server.port()};
  const Answer a = c.compose({{"model", "tune"}, {"length", 40}});
  ASSERT_EQ(a.status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  EXPECT_EQ(c.get(a.j().at("pieces")[0].at("midi")).status, 404) << "expired after 1 s";
}

TEST(ComposeServerModels, ArgumentsAreRunsCheckpointsOrFoldersAndBestIsPreferred) {
  const fs::path dir = test_dir("runs");
  fs::create_directories(dir / "run" / "checkpoints");
  save_model(dir / "run" / "checkpoints", "ckpt-000001", melodl::pipeline::LineKind::melody, 8);
  save_model(dir / "run" / "checkpoints", "ckpt-000002", melodl::pipeline::LineKind::melody, 8);
  { std::ofstream(dir / "run" / "checkpoints" / "latest") << "ckpt-000002.safetensors\n"; }
  EXPECT_EQ(web::load_served_models({(dir / "run").string()})[0]->card.checkpoint,
            "ckpt-000002.safetensors")
      << "no best: the latest";
  save_model(dir / "run", "best", melodl::pipeline::LineKind::melody, 8);
  save_model(dir, "loose", melodl::pipeline::LineKind::harmony, 8);
  const auto models = web::load_served_models({dir.string()});
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0]->card.name, "loose");
  EXPECT_EQ(models[1]->card.name, "run");
  EXPECT_EQ(models[1]->card.checkpoint, "best.safetensors") << "best over latest";
  EXPECT_EQ(web::load_served_models({(dir / "run").string()}, {},
                                    melodl::pipeline::CheckpointChoice::latest)[0]
                ->card.checkpoint,
            "ckpt-000002.safetensors");
  const auto twice = web::load_served_models({(dir / "run").string(), (dir / "run").string()});
  EXPECT_EQ(twice[1]->card.name, "run-2");
  EXPECT_THROW(web::load_served_models({(dir / "missing").string()}), melodl::InvalidArgument);
  fs::create_directories(dir / "empty");
  EXPECT_THROW(web::load_served_models({(dir / "empty").string()}), melodl::InvalidArgument);
}

}  // namespace
