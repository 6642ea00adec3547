// examples/cmd_models.cpp: `melodl models`: the shipped pretrained models (pipeline/models.h)
// that `--model NAME` of compose, eval, export and train --init-from, and `melodl serve`
// without arguments, can use: name, kind, size, description, file. Docs: docs/models.md.
// Usage: melodl models [--json]
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "examples/command.h"
#include "pipeline/composing.h"
#include "pipeline/models.h"

namespace {

namespace pl = melodl::pipeline;

struct ModelsArgs {
  bool json = false;
};

int run_models(const ModelsArgs& a) {
  nlohmann::json list = nlohmann::json::array();
  const auto models = pl::list_models();
  for (auto m : models) {
    std::string kind = "?", styles;
    try {  // a file that does not load is listed with its error, not fatal to the listing
      const pl::LoadedModel lm = pl::load_model(m.file);
      kind = std::string(pl::to_string(lm.vocab.kind())) + ", " +
             std::to_string(lm.checkpoint.network_config.layers) + " x " +
             std::to_string(lm.checkpoint.network_config.hidden);
      for (const auto& s : lm.vocab.styles()) styles += (styles.empty() ? "" : ",") + s;
      if (auto it = lm.checkpoint.extra.find("description");  // the file's own, without a card
          m.description.empty() && it != lm.checkpoint.extra.end())
        m.description = it->second;
    } catch (const std::exception& e) {
      kind = std::string("does not load: ") + e.what();
    }
    const double mib = static_cast<double>(std::filesystem::file_size(m.file)) / (1024.0 * 1024.0);
    if (a.json) {
      list.push_back({{"name", m.name},
                      {"file", m.file.string()},
                      {"card", m.card.string()},
                      {"kind", kind},
                      {"styles", styles},
                      {"mib", mib},
                      {"description", m.description},
                      {"heldout_bits_per_note", m.heldout_bits_per_note}});
      continue;
    }
    std::printf("%-12s %-20s %5.2f MiB  %s%s\n", m.name.c_str(), kind.c_str(), mib,
                m.description.c_str(), styles.empty() ? "" : (" (styles: " + styles + ")").c_str());
    std::printf("%-12s %s", "", m.file.c_str());
    if (m.heldout_bits_per_note > 0)
      std::printf("  (held-out %.3f bits/note, card %s)", m.heldout_bits_per_note,
                  m.card.filename().replace_extension(".md").c_str());
    std::printf("\n");
  }
  if (a.json) {
    std::printf("%s\n", list.dump(2).c_str());
  } else if (models.empty()) {
    std::string where;
    for (const auto& d : pl::model_search_path()) where += "\n  " + d.string();
    std::printf("melodl models: no shipped models found; looked in:%s\n", where.c_str());
  } else {
    std::printf("use one: melodl compose --model %s -o out/ --wav\n", models.front().name.c_str());
  }
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<ModelsArgs>();
  sub.add_flag("--json", a->json, "Print JSON");
  sub.footer(
      "Folders searched: MELODL_MODELS (':'-separated), share/melodl/models beside the "
      "program's bin/, the source tree's models/. See docs/models.md.");
  return [a] { return run_models(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(models, "models", "List the shipped pretrained models (--model NAME)",
                        setup);
