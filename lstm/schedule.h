// lstm/schedule.h: the learning-rate schedule of a Trainer (docs/training.md "Regularisation
// and schedule"): an optional linear warm-up, then a constant rate, a cosine decay to a floor,
// or reduce-on-plateau driven by the validation scores the caller reports. Warm-up and
// cosine are functions of the update count (Trainer::step_count(), saved in checkpoints);
// the plateau state is saved as the metadata key "lstm.schedule" (state_json()).
// Tests: tests/lstm/schedule_test.cpp.
#pragma once

#include <cstdint>
#include <string>

namespace melodl::lstm {

enum class LrScheduleKind {
  constant,  // the base rate after the warm-up (default; with warmup_steps 0 the schedule is off)
  cosine,    // cosine from the base rate down to min_lr over decay_steps updates after warm-up
  plateau,   // the base rate times factor^k after k reductions (report_validation), >= min_lr
};

std::string to_string(LrScheduleKind kind);
LrScheduleKind lr_schedule_kind_from_string(const std::string& name);  // throws InvalidArgument

struct LrScheduleConfig {
  LrScheduleKind kind = LrScheduleKind::constant;
  // Updates 0..warmup_steps-1 (0-based update index s) use base * (s+1) / warmup_steps.
  std::int64_t warmup_steps = 0;
  std::int64_t decay_steps = 0;  // cosine: updates from the end of the warm-up to min_lr
  float min_lr = 0.0f;           // cosine: the final rate; plateau: the lowest rate (> 0)
  float factor = 0.5f;           // plateau: rate multiplier per reduction, in (0, 1)
  int patience = 2;              // plateau: reports without improvement before a reduction
  float threshold = 0.0f;        // plateau: an improvement is score < best - threshold

  // Whether the rate depends on anything at all (off: the optimiser's rate is never touched).
  bool active() const { return kind != LrScheduleKind::constant || warmup_steps > 0; }
  // Throws InvalidArgument "[LrScheduleConfig::validate] <field> ..."; base_lr is the
  // optimiser's rate (min_lr must not exceed it).
  void validate(float base_lr) const;
};

// The schedule's state: the plateau bookkeeping (everything else follows from the step).
class LrSchedule {
 public:
  explicit LrSchedule(const LrScheduleConfig& config = {}) : config_(config) {}

  const LrScheduleConfig& config() const { return config_; }
  // The rate of update number `step` (0-based: the updates already applied) for `base_lr`.
  float lr_at(float base_lr, std::int64_t step) const;
  // A validation score (lower is better, e.g. bits per symbol). Plateau: returns true when
  // this report reduced the rate (patience reports in a row without improvement); other
  // kinds: does nothing and returns false. A non-finite score counts as no improvement.
  bool report(double score);
  // The base rate for which lr_at gives `lr` now: plateau, lr / factor^reductions (the
  // reductions so far stay applied to it; lr_at still keeps min_lr); other kinds, `lr` (their
  // rate follows from the step).
  float base_for(float lr) const;

  int reductions() const { return reductions_; }
  int bad_reports() const { return bad_; }
  bool has_best() const { return has_best_; }
  double best() const { return best_; }

  // The plateau state as JSON, and its inverse (throws InvalidArgument on malformed text).
  std::string state_json() const;
  void set_state_json(const std::string& text);

 private:
  LrScheduleConfig config_;
  bool has_best_ = false;
  double best_ = 0;
  int bad_ = 0;
  int reductions_ = 0;
};

}  // namespace melodl::lstm
