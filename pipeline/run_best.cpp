// pipeline/run_best.cpp: see run_best.h.
#include "pipeline/run_best.h"

#include <cmath>
#include <cstdio>

#include "lstm/checkpoint.h"
#include "pipeline/run_checkpoints.h"

namespace melodl::pipeline {

namespace fs = std::filesystem;

fs::path best_checkpoint_path(const fs::path& run_dir) { return run_dir / "best.safetensors"; }

namespace detail {

namespace {

std::string best_text(const RunState& st) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "epoch %d, %.4f bits/note", st.best_epoch, st.best_bits_per_note);
  return buf;
}

}  // namespace

bool record_validation(RunState& st, const EpochMetrics& m) {
  const double v = m.valid_bits_per_note;
  if (std::isfinite(v) && v > 0 && (st.best_epoch == 0 || v < st.best_bits_per_note)) {
    st.best_epoch = m.epoch;
    st.best_bits_per_note = v;
    st.validations_since_best = 0;
    return true;
  }
  ++st.validations_since_best;
  return false;
}

bool patience_spent(const RunState& st, int patience) {
  return patience > 0 && st.best_epoch > 0 && st.validations_since_best >= patience;
}

std::string early_stop_message(const RunState& st) {
  return "no new best in the last " + std::to_string(st.validations_since_best) +
         " validations (best: " + best_text(st) + "): stopping early (--patience)";
}

void check_new_run(const fs::path& run_dir, const TrainSettings& settings, bool has_validation) {
  std::error_code ec;
  if (fs::exists(best_checkpoint_path(run_dir), ec))
    throw InvalidArgument(run_dir.string() + " already holds " +
                          best_checkpoint_path(run_dir).string() +
                          " of another run: use --resume or another --run-dir");
  const char* need = " needs validation data (--valid-fraction > 0 or --valid)";
  if (!has_validation && settings.patience > 0)
    throw InvalidArgument(std::string("--patience") + need);
  if (!has_validation && settings.train.schedule.kind == lstm::LrScheduleKind::plateau)
    throw InvalidArgument(std::string("--lr-schedule plateau") + need);
}

std::string plateau_message(const lstm::Trainer& trainer) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", trainer.learning_rate());
  return "learning rate reduced to " + std::string(buf) +
         " (--lr-schedule plateau: " + std::to_string(trainer.schedule().config().patience) +
         " validations without improvement)";
}

std::string reconcile_best(const fs::path& run_dir, const RunState& st, bool weights_are_best,
                           const std::function<void()>& write_best) {
  const fs::path path = best_checkpoint_path(run_dir);
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  bool agrees = false;
  if (exists && st.best_epoch > 0) {
    try {
      const RunState f = RunState::from_json(lstm::load_checkpoint(path).extra.at("run_state"));
      agrees = f.best_epoch == st.best_epoch && f.best_bits_per_note == st.best_bits_per_note;
    } catch (const std::exception&) {
      agrees = false;  // damaged or not a run checkpoint: replaced or removed below
    }
  }
  if (agrees || (!exists && st.best_epoch == 0)) return "";
  if (st.best_epoch > 0 && weights_are_best) {
    write_best();
    return "wrote " + path.string() + " (" + best_text(st) + "), which the interrupted run had " +
           "not written";
  }
  if (!exists)
    return "no " + path.string() + " for the best so far (" + best_text(st) +
           "); the next new best writes it";
  fs::remove(path, ec);
  return "removed " + path.string() + ": it does not match the checkpoint the run continues " +
         "from (" + (st.best_epoch > 0 ? "best: " + best_text(st) : "no validation yet") +
         "); the next new best writes it again";
}

std::optional<fs::path> usable_best(const fs::path& run_dir, std::vector<std::string>* skipped) {
  const fs::path path = best_checkpoint_path(run_dir);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  try {
    if (all_finite(lstm::load_checkpoint(path).params)) return path;
    if (skipped) skipped->push_back(path.string() + ": non-finite weights");
  } catch (const std::exception& e) {
    if (skipped) skipped->push_back(path.string() + ": " + e.what());
  }
  return std::nullopt;
}

}  // namespace detail

}  // namespace melodl::pipeline
