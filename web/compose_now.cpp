// web/compose_now.cpp: see compose_now.h.
#include "web/compose_now.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "midi/writer.h"
#include "web/compose_jobs.h"
#include "web/compose_pieces.h"

namespace melodl::web {

namespace fs = std::filesystem;

namespace {

std::string base64(const std::string& bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t v = static_cast<std::uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<std::uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<std::uint8_t>(bytes[i + 2]);
    out += kDigits[(v >> 18) & 63];
    out += kDigits[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kDigits[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kDigits[v & 63] : '=';
  }
  return out;
}

// The song as MIDI bytes (through a file in a folder of our own, removed afterwards).
std::string midi_bytes(const midi::Song& song) {
  struct Folder {
    fs::path path = detail::make_temp_folder();
    ~Folder() {
      std::error_code ec;
      fs::remove_all(path, ec);  // also when writing failed
    }
  } dir;
  const fs::path path = dir.path / "compose-now.mid";
  midi::write_file(path, song);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The request: the body's fields with the model named "training" (parse_compose_request
// checks every field as for POST /api/compose); one piece at most.
ComposeRequest parse_body(const std::string& body) {
  RequestLimits limits;
  limits.max_count = 1;
  auto j = nlohmann::json::parse(body.empty() ? std::string("{}") : body, nullptr, false);
  if (j.is_object()) {
    if (j.contains("model"))
      throw RequestError(400, "model: not taken here (compose now uses the weights being trained)");
    j["model"] = "training";
    return parse_compose_request(j.dump(), limits);
  }
  return parse_compose_request(body, limits);  // refuses it, naming the body
}

}  // namespace

Handler compose_now_handler(VizListener& listener, ComposeNowModel model) {
  auto m = std::make_shared<const ComposeNowModel>(std::move(model));
  return [&listener, m](const Request& q, Response& res) {
    const auto fail = [&res](int status, const std::string& message) {
      res.status = status;
      res.body = nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                         nlohmann::json::error_handler_t::replace);
    };
    ComposeRequest r;
    try {
      r = parse_body(q.body);
    } catch (const RequestError& e) {
      return fail(e.status(), e.what());
    }
    std::optional<VizListener::Weights> weights = listener.request_weights(m->wait);
    if (!weights)
      return fail(503, "the training did not reach the end of an update within " +
                           std::to_string(m->wait.count() / 1000) +
                           " s (validating, sampling or finished); retry");
    const lstm::Network net(m->network, std::move(weights->params));
    Composed c;
    try {
      c = compose_pieces(net, m->vocab, r);
    } catch (const RequestError& e) {
      return fail(e.status(), e.what());
    }
    nlohmann::json j = c.reply;
    j["model"] = "training";
    j["kind"] = m->vocab.kind() == pipeline::LineKind::harmony ? "harmony" : "melody";
    j["seed"] = r.seed;
    j["step"] = weights->step;
    j["midi"] = "data:audio/midi;base64," + base64(midi_bytes(c.songs.at(0)));
    for (auto& p : j.at("pieces")) p["midi"] = p["wav"] = nullptr;
    res.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
}

}  // namespace melodl::web
