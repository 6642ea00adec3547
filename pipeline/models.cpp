// pipeline/models.cpp: finding the shipped models (see models.h).
#include "pipeline/models.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <system_error>

#include "base/error.h"

namespace melodl::pipeline {

namespace fs = std::filesystem;

namespace {

bool valid_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// The running program's folder (Linux: /proc/self/exe); "" when it cannot be read.
fs::path program_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

// The card's "description" and first held-out bits/note into `m` (a missing or unreadable
// card is not an error here: listing must work whatever the folder holds).
void read_card(const fs::path& card, ShippedModel& m) {
  std::ifstream in(card);
  if (!in) return;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  if (j.contains("description") && j["description"].is_string())
    m.description = j["description"].get<std::string>();
  if (j.contains("heldout") && j["heldout"].is_array() && !j["heldout"].empty()) {
    const auto& h = j["heldout"][0];
    if (h.is_object() && h.contains("bits_per_note") && h["bits_per_note"].is_number())
      m.heldout_bits_per_note = h["bits_per_note"].get<double>();
  }
}

}  // namespace

std::vector<fs::path> model_search_path() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("MELODL_MODELS")) {
    std::string s(env);
    std::size_t start = 0;
    while (start <= s.size()) {
      const std::size_t end = std::min(s.find(':', start), s.size());
      if (end > start) dirs.emplace_back(s.substr(start, end - start));
      start = end + 1;
    }
  }
  if (const fs::path bin = program_dir(); !bin.empty())
    dirs.push_back(bin.parent_path() / "share" / "melodl" / "models");
#ifdef MELODL_SOURCE_MODELS
  dirs.emplace_back(MELODL_SOURCE_MODELS);
#endif
  return dirs;
}

std::vector<ShippedModel> list_models() {
  std::map<std::string, ShippedModel> found;
  for (const fs::path& dir : model_search_path()) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const fs::path& p = entry.path();
      if (p.extension() != ".safetensors" || !entry.is_regular_file(ec)) continue;
      const std::string name = p.stem().string();
      if (!valid_name(name) || found.count(name)) continue;
      ShippedModel m{name, p, {}, {}, 0.0};
      const fs::path card = dir / (name + ".json");
      if (fs::is_regular_file(card, ec)) {
        m.card = card;
        read_card(card, m);
      }
      found.emplace(name, std::move(m));
    }
  }
  std::vector<ShippedModel> out;
  for (auto& [name, m] : found) out.push_back(std::move(m));
  return out;
}

std::optional<ShippedModel> lookup_model(const std::string& name) {
  if (!valid_name(name)) return std::nullopt;
  for (auto& m : list_models())
    if (m.name == name) return m;
  return std::nullopt;
}

std::string model_names() {
  std::string s;
  for (const auto& m : list_models()) s += (s.empty() ? "" : ", ") + m.name;
  return s.empty() ? "none" : s;
}

fs::path find_model(const std::string& name) {
  if (auto m = lookup_model(name)) return m->file;
  std::string where;
  for (const fs::path& d : model_search_path()) where += (where.empty() ? "" : ", ") + d.string();
  throw InvalidArgument("no shipped model called \"" + name + "\" (models: " + model_names() +
                        "; looked in " + where + "; MELODL_MODELS adds folders)");
}

}  // namespace melodl::pipeline
