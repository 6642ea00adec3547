// tests/web/serve_models.h: models for the `melodl serve` tests: random networks saved as
// checkpoints (grammar-constrained composing makes every piece decode). Test-only.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lstm/checkpoint.h"
#include "pipeline/corpus.h"

namespace melodl::web::testing {

// A random one-layer network over the kind's full vocabulary (with style symbols when `styles`
// are given), saved as DIR/NAME.safetensors.
inline void save_model(const std::filesystem::path& dir, const std::string& name,
                       pipeline::LineKind kind, int hidden,
                       const std::vector<std::string>& styles = {}) {
  const auto vocab = styles.empty() ? pipeline::Vocabulary::full(kind)
                                    : pipeline::Vocabulary::full(kind).with_styles(styles);
  lstm::NetworkConfig c;
  c.vocab = vocab.size();
  c.layers = 1;
  c.hidden = hidden;
  c.seed = 7;
  lstm::save_checkpoint(dir / (name + ".safetensors"), lstm::Network(c), vocab.stored());
}

}  // namespace melodl::web::testing
