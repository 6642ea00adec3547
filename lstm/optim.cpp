// lstm/optim.cpp: SGD (momentum), Adam, RMSProp and DL4J-order RMSProp over the flat
// parameter buffer; L2; global-norm clipping. Rules: docs/design.md "Optimisers".
#include "lstm/optim.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "lstm/error.h"

namespace melodl::lstm {

std::string to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::sgd:
      return "sgd";
    case OptimizerKind::adam:
      return "adam";
    case OptimizerKind::rmsprop:
      return "rmsprop";
    case OptimizerKind::dl4j_rmsprop:
      return "dl4j_rmsprop";
  }
  return "?";
}

OptimizerKind optimizer_kind_from_string(const std::string& name) {
  if (name == "sgd") return OptimizerKind::sgd;
  if (name == "adam") return OptimizerKind::adam;
  if (name == "rmsprop") return OptimizerKind::rmsprop;
  if (name == "dl4j_rmsprop") return OptimizerKind::dl4j_rmsprop;
  throw InvalidArgument("[optimizer] unknown optimizer \"" + name +
                        "\" (expected sgd, adam, rmsprop or dl4j_rmsprop)");
}

void OptimizerConfig::validate() const {
  auto check = [](bool ok, const std::string& field, const std::string& what, float got) {
    if (!ok)
      throw InvalidArgument("[OptimizerConfig::validate] " + field + " " + what + ", got " +
                            std::to_string(got));
  };
  check(std::isfinite(lr) && lr > 0, "lr", "must be > 0", lr);
  check(momentum >= 0 && momentum < 1, "momentum", "must be in [0, 1)", momentum);
  check(beta1 >= 0 && beta1 < 1, "beta1", "must be in [0, 1)", beta1);
  check(beta2 >= 0 && beta2 < 1, "beta2", "must be in [0, 1)", beta2);
  check(rms_decay >= 0 && rms_decay < 1, "rms_decay", "must be in [0, 1)", rms_decay);
  check(eps > 0, "eps", "must be > 0", eps);
  check(l2 >= 0 && std::isfinite(l2), "l2", "must be >= 0", l2);
  check(weight_decay >= 0 && std::isfinite(weight_decay), "weight_decay", "must be >= 0 (0 = off)",
        weight_decay);
  check(lr * weight_decay < 1, "weight_decay", "times lr must be < 1", weight_decay);
  check(clip_norm >= 0 && std::isfinite(clip_norm), "clip_norm", "must be >= 0 (0 = off)",
        clip_norm);
  check(average >= 0 && average < 1, "average", "must be in [0, 1) (0 = off)", average);
}

Optimizer::Optimizer(const OptimizerConfig& config, std::size_t n) : config_(config) {
  config_.validate();
  switch (config_.kind) {
    case OptimizerKind::sgd:
      slots_.assign(1, std::vector<float>(n, 0.0f));
      break;
    case OptimizerKind::adam:
      slots_.assign(2, std::vector<float>(n, 0.0f));
      break;
    case OptimizerKind::rmsprop:
      slots_.assign(1, std::vector<float>(n, 0.0f));
      break;
    // DL4J initialises the RMSProp cache to eps, not 0.
    case OptimizerKind::dl4j_rmsprop:
      slots_.assign(1, std::vector<float>(n, config_.eps));
      break;
  }
  if (config_.average > 0) slots_.emplace_back(n, 0.0f);  // the averaged weights
}

void Optimizer::set_lr(float lr) {
  if (!(std::isfinite(lr) && lr > 0)) {
    char got[32];
    std::snprintf(got, sizeof got, "%g", static_cast<double>(lr));
    throw InvalidArgument(std::string("[Optimizer::set_lr] lr must be finite and > 0, got ") + got);
  }
  config_.lr = lr;
}

std::vector<std::string> Optimizer::slot_names() const {
  std::vector<std::string> names;
  switch (config_.kind) {
    case OptimizerKind::sgd:
      names = {"velocity"};
      break;
    case OptimizerKind::adam:
      names = {"m", "v"};
      break;
    case OptimizerKind::rmsprop:
    case OptimizerKind::dl4j_rmsprop:
      names = {"cache"};
      break;
  }
  if (config_.average > 0) names.emplace_back("average");
  return names;
}

std::span<const float> Optimizer::averaged() const {
  if (config_.average <= 0) return {};
  return slots_.back();
}

double Optimizer::apply(std::span<float> w, std::span<float> g,
                        std::span<const std::uint8_t> weight_mask, double count, int sequences) {
  const std::size_t n = w.size();
  MELODL_CHECK(g.size() == n && weight_mask.size() == n && slots_[0].size() == n,
               "[Optimizer::apply] params, grads, weight_mask and optimizer state must have "
               "equal sizes");
  MELODL_CHECK(sequences >= 1, "[Optimizer::apply] sequences must be >= 1");
  const auto& c = config_;
  const bool dl4j = c.kind == OptimizerKind::dl4j_rmsprop;
  if (!dl4j) {
    const float inv = count > 0 ? static_cast<float>(1.0 / count) : 0.0f;
    for (std::size_t k = 0; k < n; ++k) g[k] *= inv;
  }
  double sq = 0;
  for (std::size_t k = 0; k < n; ++k) sq += static_cast<double>(g[k]) * g[k];
  const double norm = std::sqrt(sq);
  if (c.clip_norm > 0 && norm > c.clip_norm) {
    const float s = static_cast<float>(c.clip_norm / norm);
    for (std::size_t k = 0; k < n; ++k) g[k] *= s;
  }
  ++steps_;
  if (c.weight_decay > 0) {
    // decoupled (AdamW): the rule below sees the decayed weights
    const float decay = 1.0f - c.lr * c.weight_decay;
    for (std::size_t k = 0; k < n; ++k)
      if (weight_mask[k]) w[k] *= decay;
  }
  switch (c.kind) {
    case OptimizerKind::sgd: {
      auto& v = slots_[0];
      for (std::size_t k = 0; k < n; ++k) {
        const float gk = g[k] + (weight_mask[k] ? c.l2 * w[k] : 0.0f);
        v[k] = c.momentum * v[k] + gk;
        w[k] -= c.lr * v[k];
      }
      break;
    }
    case OptimizerKind::adam: {
      auto& m = slots_[0];
      auto& v = slots_[1];
      const double t = static_cast<double>(steps_);
      const float bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(c.beta1), t));
      const float bc2 = static_cast<float>(1.0 - std::pow(static_cast<double>(c.beta2), t));
      const float step = c.lr / bc1;
      const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
      for (std::size_t k = 0; k < n; ++k) {
        const float gk = g[k] + (weight_mask[k] ? c.l2 * w[k] : 0.0f);
        m[k] = c.beta1 * m[k] + (1.0f - c.beta1) * gk;
        v[k] = c.beta2 * v[k] + (1.0f - c.beta2) * gk * gk;
        w[k] -= step * m[k] / (std::sqrt(v[k]) * inv_sqrt_bc2 + c.eps);
      }
      break;
    }
    case OptimizerKind::rmsprop: {
      auto& s = slots_[0];
      for (std::size_t k = 0; k < n; ++k) {
        const float gk = g[k] + (weight_mask[k] ? c.l2 * w[k] : 0.0f);
        s[k] = c.rms_decay * s[k] + (1.0f - c.rms_decay) * gk * gk;
        w[k] -= c.lr * gk / (std::sqrt(s[k]) + c.eps);
      }
      break;
    }
    case OptimizerKind::dl4j_rmsprop: {
      auto& s = slots_[0];
      const float inv_b = 1.0f / static_cast<float>(sequences);
      for (std::size_t k = 0; k < n; ++k) {
        s[k] = c.rms_decay * s[k] + (1.0f - c.rms_decay) * g[k] * g[k];
        float u = c.lr * g[k] / (std::sqrt(s[k]) + c.eps);
        if (weight_mask[k]) u += c.l2 * w[k];
        w[k] -= u * inv_b;
      }
      break;
    }
  }
  if (c.average > 0) {
    auto& a = slots_.back();
    if (steps_ == 1) {
      std::copy(w.begin(), w.end(), a.begin());
    } else {
      const double t = static_cast<double>(steps_);
      const float keep = std::min(c.average, static_cast<float>(t / (t + 9.0)));
      const float take = 1.0f - keep;
      for (std::size_t k = 0; k < n; ++k) a[k] += take * (w[k] - a[k]);
    }
  }
  return norm;
}

}  // namespace melodl::lstm
