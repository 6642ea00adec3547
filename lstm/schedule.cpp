// lstm/schedule.cpp: LrSchedule (lstm/schedule.h): warm-up, cosine, reduce-on-plateau.
#include "lstm/schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "lstm/error.h"

namespace melodl::lstm {

std::string to_string(LrScheduleKind kind) {
  switch (kind) {
    case LrScheduleKind::constant:
      return "constant";
    case LrScheduleKind::cosine:
      return "cosine";
    case LrScheduleKind::plateau:
      return "plateau";
  }
  return "?";
}

LrScheduleKind lr_schedule_kind_from_string(const std::string& name) {
  if (name == "constant") return LrScheduleKind::constant;
  if (name == "cosine") return LrScheduleKind::cosine;
  if (name == "plateau") return LrScheduleKind::plateau;
  throw InvalidArgument("[schedule] unknown learning-rate schedule \"" + name +
                        "\" (expected constant, cosine or plateau)");
}

void LrScheduleConfig::validate(float base_lr) const {
  auto fail = [](const std::string& field, const std::string& what, double got) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%g", got);
    throw InvalidArgument("[LrScheduleConfig::validate] " + field + " " + what + ", got " + buf);
  };
  if (warmup_steps < 0) fail("warmup_steps", "must be >= 0 (0 = no warm-up)", warmup_steps);
  if (kind == LrScheduleKind::cosine && decay_steps < 1)
    fail("decay_steps", "must be >= 1 for the cosine schedule", decay_steps);
  if (kind != LrScheduleKind::constant &&
      !(std::isfinite(min_lr) && min_lr > 0 && min_lr <= base_lr))
    fail("min_lr", "must be > 0 and <= the learning rate for " + to_string(kind), min_lr);
  if (kind == LrScheduleKind::plateau) {
    if (!(factor > 0 && factor < 1)) fail("factor", "must be in (0, 1)", factor);
    if (patience < 1) fail("patience", "must be >= 1", patience);
    if (!(std::isfinite(threshold) && threshold >= 0)) fail("threshold", "must be >= 0", threshold);
  }
}

float LrSchedule::lr_at(float base_lr, std::int64_t step) const {
  const auto& c = config_;
  const double base = base_lr;
  double lr = base;
  switch (c.kind) {
    case LrScheduleKind::constant:
      break;
    case LrScheduleKind::cosine: {
      const double p = std::clamp(
          static_cast<double>(step - c.warmup_steps) / static_cast<double>(c.decay_steps), 0.0,
          1.0);
      const double pi = 3.14159265358979323846;
      lr = c.min_lr + (base - c.min_lr) * 0.5 * (1.0 + std::cos(pi * p));
      break;
    }
    case LrScheduleKind::plateau:
      lr = std::max(static_cast<double>(c.min_lr), base * std::pow(c.factor, reductions_));
      break;
  }
  if (step < c.warmup_steps)
    lr = std::min(lr, base * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps));
  return static_cast<float>(lr);
}

float LrSchedule::base_for(float lr) const {
  if (config_.kind != LrScheduleKind::plateau) return lr;
  const double base = static_cast<double>(lr) / std::pow(config_.factor, reductions_);
  return static_cast<float>(std::min(base, static_cast<double>(std::numeric_limits<float>::max())));
}

bool LrSchedule::report(double score) {
  if (config_.kind != LrScheduleKind::plateau) return false;
  if (std::isfinite(score) && (!has_best_ || score < best_ - config_.threshold)) {
    has_best_ = true;
    best_ = score;
    bad_ = 0;
    return false;
  }
  if (++bad_ < config_.patience) return false;
  bad_ = 0;
  ++reductions_;
  return true;
}

namespace {
struct PlateauJson {
  bool has_best = false;
  double best = 0;
  int bad_reports = 0;
  int reductions = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PlateauJson, has_best, best, bad_reports, reductions)
}  // namespace

std::string LrSchedule::state_json() const {
  return nlohmann::json(PlateauJson{has_best_, has_best_ ? best_ : 0.0, bad_, reductions_}).dump();
}

void LrSchedule::set_state_json(const std::string& text) {
  PlateauJson s;
  try {
    s = nlohmann::json::parse(text).get<PlateauJson>();
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(std::string("[LrSchedule::set_state_json] bad schedule state JSON: ") +
                          e.what());
  }
  if (s.bad_reports < 0 || s.reductions < 0 || !std::isfinite(s.best))
    throw InvalidArgument(
        "[LrSchedule::set_state_json] bad_reports and reductions must be >= 0 and best finite");
  has_best_ = s.has_best;
  best_ = s.best;
  bad_ = s.bad_reports;
  reductions_ = s.reductions;
}

}  // namespace melodl::lstm
