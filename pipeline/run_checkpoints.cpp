// pipeline/run_checkpoints.cpp: see run_checkpoints.h.
#include "pipeline/run_checkpoints.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <new>

namespace melodl::pipeline::detail {

namespace fs = std::filesystem;

bool all_finite(std::span<const float> v) {
  // Summing is cheaper than a branch per element and NaN/Inf propagate into the sum.
  float acc = 0.0f;
  for (float x : v) acc += x * 0.0f;
  return acc == 0.0f;
}

std::vector<fs::path> list_checkpoints(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("ckpt-") && name.ends_with(".safetensors")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// The checkpoints of a run, newest first: the one `latest` names, then the others by name.
std::vector<fs::path> checkpoint_candidates(const fs::path& run_dir,
                                            std::vector<std::string>* skipped) {
  const fs::path dir = run_dir / "checkpoints";
  std::vector<fs::path> candidates;
  {
    std::ifstream in(dir / "latest");
    std::string name;
    if (in && std::getline(in, name) && !name.empty())
      candidates.push_back(dir / name);
    else if (skipped)
      skipped->push_back((dir / "latest").string() + ": missing or empty");
  }
  auto all = list_checkpoints(dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (candidates.empty() || *it != candidates.front()) candidates.push_back(*it);
  return candidates;
}

// "no loadable checkpoint in DIR" with every reason, so a user sees why each was passed over.
[[noreturn]] void no_loadable_checkpoint(const fs::path& run_dir,
                                         const std::vector<std::string>& skipped) {
  std::string msg = "no loadable checkpoint in " + (run_dir / "checkpoints").string();
  for (const auto& s : skipped) msg += "\n  passed over " + s;
  throw InvalidArgument(msg);
}

}  // namespace

// The newest checkpoint that loads, has finite weights and passes `check` (which throws to
// reject one); each rejected file and its reason goes to `skipped`.
GoodCheckpoint load_good(const fs::path& run_dir, std::vector<std::string>* skipped,
                         const std::function<void(const GoodCheckpoint&)>& check) {
  std::vector<std::string> reasons;
  for (const auto& p : checkpoint_candidates(run_dir, &reasons)) {
    try {
      GoodCheckpoint good{p, lstm::load_checkpoint(p)};
      if (!all_finite(good.ck.params)) {
        reasons.push_back(p.string() + ": non-finite weights");
        continue;
      }
      if (check) check(good);
      if (skipped) skipped->insert(skipped->end(), reasons.begin(), reasons.end());
      return good;
    } catch (const RunMismatch&) {
      throw;
    } catch (const std::bad_alloc&) {
      reasons.push_back(p.string() + ": out of memory while loading it");
    } catch (const std::exception& e) {
      reasons.push_back(p.string() + ": " + e.what());
    }
  }
  if (skipped) skipped->insert(skipped->end(), reasons.begin(), reasons.end());
  no_loadable_checkpoint(run_dir, reasons);
}

// A run state read from a checkpoint must describe a place in this run's data.
void check_run_state(const RunState& st, std::size_t batches) {
  auto bad = [](const std::string& what) { throw InvalidArgument("run state: " + what); };
  auto finite_nonneg = [](double v) { return std::isfinite(v) && v >= 0; };
  if (st.epoch < 0) bad("epoch " + std::to_string(st.epoch) + " is negative");
  if (st.next_batch > batches)
    bad("next batch " + std::to_string(st.next_batch) + " is past the " + std::to_string(batches) +
        " batches of an epoch");
  if (!finite_nonneg(st.epoch_loss_nats) || !finite_nonneg(st.epoch_count))
    bad("the epoch's loss or count is negative or not finite");
  if (!finite_nonneg(st.elapsed_s)) bad("elapsed time is negative or not finite");
  if (!finite_nonneg(st.lr)) bad("learning rate is negative or not finite");
  if (st.attempts < 0) bad("attempts is negative");
  if (st.history.size() > static_cast<std::size_t>(st.epoch) + 1)
    bad("more epochs in the history than the run has had");
  if (st.best_epoch < 0 || st.best_epoch > st.epoch + 1 || st.validations_since_best < 0 ||
      !std::isfinite(st.best_bits_per_note))
    bad("the best epoch or the validations since it are outside the run");
}

CancelCheck stoppable_write(const fs::path& path, const fs::path& previous,
                            const std::atomic<bool>& stop, const TrainCallbacks& cb) {
  const std::string again = " (stop again to abandon it: " +
                            (previous.empty() ? std::string("no checkpoint would be left)")
                                              : previous.string() + " would be kept)");
  auto announced = std::make_shared<bool>(false);
  return [path, again, announced, &stop, &cb] {
    if (!*announced && stop.load()) {
      *announced = true;
      if (cb.log) cb.log("stopping once checkpoint " + path.string() + " is written" + again);
    }
    return cb.abandon_write && cb.abandon_write();
  };
}

}  // namespace melodl::pipeline::detail
