// web/compose_models.cpp: see compose_models.h.
#include "web/compose_models.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "pipeline/run_config.h"
#include "pipeline/training.h"

namespace melodl::web {

namespace fs = std::filesystem;

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ModelCard, name, kind, corpus, checkpoint, trained, layers,
                                   hidden, vocab, parameters, epochs, valid_bits_per_note, styles)

namespace {

bool is_run_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p / "checkpoints", ec) || fs::is_regular_file(p / "config.json", ec);
}

bool is_checkpoint_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && p.extension() == ".safetensors";
}

// The run directory a checkpoint file belongs to (RUN/checkpoints/FILE or
// RUN/best.safetensors), or "".
fs::path run_of(const fs::path& checkpoint) {
  const fs::path dir = checkpoint.parent_path();
  if (is_run_dir(dir)) return dir;
  if (dir.filename() != "checkpoints") return {};
  return is_run_dir(dir.parent_path()) ? dir.parent_path() : fs::path();
}

std::string utc_date(const fs::path& file) {
  std::error_code ec;
  const auto t = fs::last_write_time(file, ec);
  if (ec) return {};
  const std::time_t tt = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(
          std::chrono::file_clock::to_sys(t)));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The run's inputs as file names, "a.mid, b/ (folder)" style, from config.json.
std::string corpus_of(const fs::path& run_dir) {
  if (run_dir.empty()) return {};
  try {
    const pipeline::RunConfig c = pipeline::read_run_config(run_dir);
    std::string out;
    for (const auto& in : c.inputs) {
      fs::path p(in);
      if (!p.has_filename()) p = p.parent_path();
      if (!out.empty()) out += ", ";
      out += p.filename().string();
    }
    return out;
  } catch (const std::exception&) {
    return {};  // an older or foreign run: the card says nothing of its corpus
  }
}

}  // namespace

std::vector<fs::path> find_model_paths(const std::vector<std::string>& args) {
  std::vector<fs::path> out;
  for (const auto& arg : args) {
    const fs::path p(arg);
    std::error_code ec;
    if (!fs::exists(p, ec)) throw InvalidArgument(arg + ": no such file or directory");
    if (!fs::is_directory(p, ec) || is_run_dir(p)) {
      out.push_back(p);
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(p, ec))
      if (is_run_dir(e.path()) || is_checkpoint_file(e.path())) found.push_back(e.path());
    if (found.empty())
      throw InvalidArgument(arg +
                            ": holds no model (no run directory, no .safetensors checkpoint)");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

ModelCard make_card(const std::string& name, const fs::path& where,
                    const pipeline::LoadedModel& model) {
  ModelCard c;
  c.name = name;
  c.kind = pipeline::to_string(model.vocab.kind());
  const auto& nc = model.checkpoint.network_config;
  c.layers = nc.layers;
  c.hidden = nc.hidden;
  c.vocab = nc.vocab;
  c.styles = model.vocab.styles();
  c.parameters = static_cast<std::int64_t>(model.checkpoint.params.size());
  c.checkpoint = model.path.filename().string();
  c.trained = utc_date(model.path);
  c.corpus = corpus_of(is_run_dir(where) ? where : run_of(model.path));
  if (const auto it = model.checkpoint.extra.find("corpus");  // an exported model's own note
      c.corpus.empty() && it != model.checkpoint.extra.end())
    c.corpus = it->second;
  if (const auto it = model.checkpoint.extra.find("run_state");
      it != model.checkpoint.extra.end()) {
    try {
      const pipeline::RunState st = pipeline::RunState::from_json(it->second);
      for (const auto& e : st.history) {
        if (!e.partial) c.epochs = std::max(c.epochs, e.epoch);
        if (e.valid_bits_per_note > 0) c.valid_bits_per_note = e.valid_bits_per_note;
      }
    } catch (const std::exception&) {
      // a run state this version cannot read: the card leaves it out
    }
  }
  return c;
}

ServedModels load_served_models(const std::vector<std::string>& args,
                                const std::function<void(const std::string&)>& log,
                                pipeline::CheckpointChoice choice) {
  ServedModels out;
  std::set<std::string> names;
  for (const fs::path& where : find_model_paths(args)) {
    pipeline::LoadedModel m = pipeline::load_model(
        where,
        [&](auto& s) {
          if (log) log("passing over checkpoint " + s);
        },
        choice);
    std::string name = (is_run_dir(where) ? where.filename() : where.stem()).string();
    if (name.empty()) name = fs::absolute(where).parent_path().filename().string();
    const std::string base = name;
    for (int k = 2; names.contains(name); ++k) {
      name = base;
      name.append("-").append(std::to_string(k));
    }
    names.insert(name);
    lstm::Network net = m.checkpoint.make_network({.device = lstm::Device::cpu, .threads = 1});
    ModelCard card = make_card(name, where, m);
    out.push_back(
        std::make_unique<ServedModel>(ServedModel{std::move(card), std::move(m), std::move(net)}));
  }
  if (out.empty()) throw InvalidArgument("no model to serve");
  return out;
}

std::string models_json(const ServedModels& models) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& m : models) {
    nlohmann::json j = m->card;
    if (m->card.valid_bits_per_note <= 0) j["valid_bits_per_note"] = nullptr;
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"models", list}}.dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
}

const ServedModel* find_model(const ServedModels& models, const std::string& name) {
  for (const auto& m : models)
    if (m->card.name == name) return m.get();
  return nullptr;
}

}  // namespace melodl::web
