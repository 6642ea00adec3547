// pipeline/training.cpp: the training run behind `melodl train`. See training.h.
#include "pipeline/training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "base/error.h"
#include "base/files.h"
#include "lstm/checkpoint.h"
#include "lstm/checkpoint_file.h"
#include "lstm/memory.h"
#include "pipeline/data_parallel.h"
#include "pipeline/run_best.h"
#include "pipeline/run_checkpoints.h"
#include "pipeline/run_time.h"

namespace melodl::pipeline {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using detail::all_finite;
using detail::check_run_state;
using detail::GoodCheckpoint;
using detail::list_checkpoints;
using detail::load_good;
using detail::RunMismatch;

namespace {

constexpr double kLn2 = 0.6931471805599453;

std::string ckpt_name(std::int64_t serial) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "ckpt-%06lld.safetensors", static_cast<long long>(serial));
  return buf;
}

}  // namespace

struct TrainingRun::Impl {
  fs::path run_dir;
  TrainSettings settings;
  Split data;
  Vocabulary vocab;
  std::vector<Window> windows;
  std::uint64_t hash = 0;
  std::unique_ptr<lstm::Trainer> trainer;
  RunState st;
  fs::path latest;
  int consecutive_bad = 0;
  bool best_pending = false;  // a new best whose weights the next save() also writes as best
  bool saved_now = false;     // no batch since the newest checkpoint
  // Current epoch's window order.
  int perm_epoch = -1;
  std::vector<std::size_t> perm;

  void init_data() {
    windows = make_windows(data.train, vocab, settings.window);
    if (windows.empty()) throw InvalidArgument("no training data: the training split is empty");
    std::vector<CorpusMelody> all = data.train;
    all.insert(all.end(), data.valid.begin(), data.valid.end());
    hash = Corpus::hash(all);
  }

  std::size_t batches() const {
    const auto B = static_cast<std::size_t>(settings.batch);
    return (windows.size() + B - 1) / B;
  }

  const std::vector<std::size_t>& order(int epoch) {
    if (perm_epoch != epoch) {
      perm.resize(windows.size());
      std::iota(perm.begin(), perm.end(), 0);
      lstm::Rng rng(settings.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(epoch) + 1);
      for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
      perm_epoch = epoch;
    }
    return perm;
  }

  void log(const TrainCallbacks& cb, const std::string& msg) const {
    if (cb.log) cb.log(msg);
  }

  // The trainer and the run state as a checkpoint file (written atomically).
  void write_checkpoint(const fs::path& path, const CancelCheck& cancel = {}) const {
    lstm::save_checkpoint(path, *trainer, vocab.stored(),
                          {{"run_state", st.to_json()}, {"data_hash", std::to_string(hash)}},
                          cancel);
  }

  // Weight averaging (--average): validation, the epoch's samples and best.safetensors use
  // the averaged weights; the raw weights go on training and into the checkpoints, beside
  // the average (an optimiser slot), so a resumed run averages on where it stopped.
  bool averaging() const { return trainer->config().optimizer.average > 0; }
  // The averaged weights as a network on the trainer's execution options (before the first
  // update: the trainer's weights).
  lstm::Network averaged_network() const {
    const lstm::Network& net = trainer->network();
    const auto a = trainer->optimizer().averaged();
    std::vector<float> w(a.begin(), a.end());
    if (trainer->step_count() == 0) w.assign(net.params().begin(), net.params().end());
    return lstm::Network(net.config(), std::move(w), net.execution());
  }
  // best.safetensors from the weights the last validation scored: the trainer's, or with
  // --average the averaged weights alone (a weights-only checkpoint with the run state).
  void write_best(const CancelCheck& cancel = {}) const {
    const fs::path path = best_checkpoint_path(run_dir);
    if (!averaging()) return write_checkpoint(path, cancel);
    lstm::save_checkpoint(path, averaged_network(), vocab.stored(),
                          {{"run_state", st.to_json()}, {"data_hash", std::to_string(hash)}},
                          cancel);
  }

  // The learning rate of the next update (the schedule's, else the run's rate).
  double current_lr() const {
    return trainer->schedule().config().active() ? trainer->learning_rate() : st.lr;
  }

  // Writes a checkpoint unless the weights are non-finite; returns whether it did. After a
  // new best, best.safetensors too, once `latest` names the checkpoint. Stopping: see run().
  bool save(const TrainCallbacks& cb, const std::atomic<bool>& stop) {
    if (!trainer->parameters_finite()) {
      log(cb, "not writing a checkpoint: the weights are not finite");
      return false;
    }
    if (!writes_run_files(settings.reducer)) return true;  // rank 0 writes (identical weights)
    const fs::path dir = run_dir / "checkpoints";
    fs::create_directories(dir);
    const std::string name = ckpt_name(st.attempts);
    const fs::path path = dir / name;
    const CancelCheck cancel = detail::stoppable_write(path, latest, stop, cb);
    write_checkpoint(path, cancel);
    saved_now = true;
    if (cb.checkpoint_written) cb.checkpoint_written(path);
    write_file_atomic(dir / "latest", name + "\n");
    latest = path;
    auto all = list_checkpoints(dir);
    std::size_t excess = all.size() > static_cast<std::size_t>(settings.keep_checkpoints)
                             ? all.size() - static_cast<std::size_t>(settings.keep_checkpoints)
                             : 0;
    for (const auto& p : all) {
      if (excess == 0) break;
      if (p == path) continue;
      std::error_code ec;
      fs::remove(p, ec);
      --excess;
    }
    if (best_pending) write_best(cancel);
    best_pending = false;
    return true;
  }

  // best.safetensors against the run state just restored (run_best.h); the note or "".
  std::string reconcile_best() const {
    const bool weights_are_best = !st.history.empty() && st.history.back().epoch == st.best_epoch &&
                                  st.history.back().steps == trainer->step_count();
    return detail::reconcile_best(run_dir, st, weights_are_best, [&] { write_best(); });
  }

  // Restores trainer and run state from a loaded checkpoint.
  // Refuses, before the network is built, a network, batch and window that would need more
  // memory than the machine has left (lstm/memory.h).
  void check_memory() const {
    lstm::NetworkConfig net = settings.network;
    net.vocab = vocab.size();
    lstm::check_memory(
        lstm::estimate_training_memory(net, settings.train, settings.batch, settings.window),
        "training (--hidden " + std::to_string(net.hidden) + ", --layers " +
            std::to_string(net.layers) + ", --batch " + std::to_string(settings.batch) + ")");
  }

  // Refuses, before any update, a CPU run whose single batch takes longer than the time
  // budget left (`budget_s`); without a budget, a note when one batch takes over a minute.
  std::string check_batch_time(double budget_s) const {
    std::size_t steps = 0;  // the longest window: batches are padded to it
    for (const auto& w : windows) steps = std::max(steps, w.symbols.size() - 1);
    return detail::check_run_time(settings, vocab.size(), steps, windows.size(), budget_s);
  }

  // Throws when `good` cannot continue this run: RunMismatch when the data differ (no
  // checkpoint of the run can help), InvalidArgument for a checkpoint of its own fault.
  void check_belongs(const GoodCheckpoint& good) const {
    const auto& ck = good.ck;
    const auto it = ck.extra.find("data_hash");
    if (it == ck.extra.end() || it->second != std::to_string(hash))
      throw RunMismatch(good.path.string() +
                        ": the training data differ from the data this run was "
                        "started with (data hash mismatch)");
    if (ck.vocabulary != vocab.stored())
      throw InvalidArgument(good.path.string() + ": vocabulary \"" + ck.vocabulary +
                            "\" differs from the data's \"" + vocab.stored() + "\"");
    if (!ck.train_config)
      throw InvalidArgument(good.path.string() + ": no training state (weights only)");
    const auto rs = ck.extra.find("run_state");
    if (rs == ck.extra.end())
      throw InvalidArgument(good.path.string() + ": not a `melodl train` checkpoint");
    try {
      check_run_state(RunState::from_json(rs->second), batches());
    } catch (const Error& e) {
      throw InvalidArgument(good.path.string() + ": " + e.what());
    }
  }

  void adopt(GoodCheckpoint good, double lr_override) {
    check_belongs(good);
    auto& ck = good.ck;
    RunState loaded = RunState::from_json(ck.extra.at("run_state"));
    if (lr_override > 0) ck.train_config->optimizer.lr = static_cast<float>(lr_override);
    // Device, threads and CUDA options are this run's choice (checkpoints hold the model only).
    trainer = std::make_unique<lstm::Trainer>(ck.make_trainer(settings.execution));
    trainer->set_reducer(settings.reducer);
    st = std::move(loaded);
    if (lr_override > 0) st.lr = lr_override;
    // A rate changed during training (--viz) is in the run state; older checkpoints'
    // train_config still holds the starting rate.
    if (st.lr > 0) trainer->set_learning_rate(static_cast<float>(st.lr));
    latest = good.path;
  }

  enum class BatchResult { ok, reload };

  BatchResult train_batch(const std::vector<std::size_t>& idx, std::size_t b, double& loss,
                          double& count, const TrainCallbacks& cb) {
    const std::size_t B0 = static_cast<std::size_t>(settings.batch);
    // This rank's windows (all of them in one process), padded to the minibatch's longest.
    const RankBatch rb =
        rank_batch(windows, idx, b * B0, std::min(idx.size(), b * B0 + B0), settings.reducer);
    const int sequences = rb.sequences;
    // The trainer runs the TBPTT segments (from a zero state: reset_state_per_batch); each
    // segment's update is ours: the loss and the gradient are checked first.
    const lstm::Batch batch = rb.batch();
    BatchResult result = BatchResult::ok;
    trainer->train_batch(batch, [&](const lstm::Batch&, const lstm::StepStats& ss) {
      ++st.attempts;
      if (cb.before_update) cb.before_update(st.attempts, *trainer);
      // Checks the loss and the gradient and only then updates (on the GPU backend all of
      // it on the device: no parameter or gradient copies per step).
      const lstm::UpdateReport up = trainer->apply_update(ss, sequences);
      if (!up.finite_loss || !up.finite_gradient) {
        ++st.skipped_steps;
        ++consecutive_bad;
        log(cb, "step " + std::to_string(st.attempts) + ": non-finite " +
                    (up.finite_loss ? "gradient norm" : "loss") + ", update skipped (" +
                    std::to_string(st.skipped_steps) + " skipped so far)");
        if (consecutive_bad >= settings.max_bad_steps) {
          result = BatchResult::reload;
          return false;
        }
        const lstm::State& state = std::as_const(*trainer).carried_state();
        bool state_ok = true;
        for (const auto& h : state.h) state_ok &= all_finite(h);
        for (const auto& c : state.c) state_ok &= all_finite(c);
        return on_all_ranks(settings.reducer, state_ok);  // else the rest would see NaN
      }
      consecutive_bad = 0;
      if (!up.applied) return true;  // nothing unmasked in this segment
      if (cb.after_update) cb.after_update(st.attempts, *trainer);
      if (!trainer->parameters_finite()) {
        log(cb, "step " + std::to_string(st.attempts) + ": non-finite weights after the update");
        result = BatchResult::reload;
        return false;
      }
      loss += up.loss_sum;  // over all ranks
      count += up.count;
      if (cb.step_end) {
        const lstm::Trainer& ct = *trainer;  // const accessors: host copies, nothing re-uploaded
        cb.step_end(ct.network().params(), ct.gradients(), ct.step_count(), up.loss_sum / up.count,
                    current_lr());
      }
      if (cb.take_lr || settings.reducer)
        if (const auto v = from_rank0(settings.reducer, cb.take_lr ? cb.take_lr() : std::nullopt)) {
          trainer->set_current_learning_rate(static_cast<float>(*v));
          st.lr = trainer->base_learning_rate();
          char buf[64];
          std::snprintf(buf, sizeof buf, "%g", *v);
          log(cb, "learning rate set to " + std::string(buf) +
                      " from the live view (after update " + std::to_string(trainer->step_count()) +
                      ")");
        }
      return true;
    });
    // Every batch starts from a zero state: drop the final one, so that checkpoints hold no
    // carried state (as before the trainer ran the segments).
    trainer->set_carried_state(lstm::State{});
    return result;
  }

  void reload(const TrainCallbacks& cb) {
    const RunState keep = st;
    const double lr = st.lr * 0.5;
    std::vector<std::string> skipped;
    GoodCheckpoint good =
        load_good(run_dir, &skipped, [&](const GoodCheckpoint& g) { check_belongs(g); });
    for (const auto& s : skipped) log(cb, "passing over checkpoint " + s);
    adopt(std::move(good), lr);
    st.attempts = keep.attempts;
    st.skipped_steps = keep.skipped_steps;
    st.reloads = keep.reloads + 1;
    st.elapsed_s = keep.elapsed_s;
    consecutive_bad = 0;
    perm_epoch = -1;
    best_pending = false;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", lr);
    log(cb, "reloaded " + latest.filename().string() + " with the learning rate halved to " + buf +
                " (reload " + std::to_string(st.reloads) + ")");
    if (const std::string note = reconcile_best(); !note.empty()) log(cb, note);
  }

  void epoch_end(bool partial, const TrainCallbacks& cb) {
    EpochMetrics m;
    m.epoch = st.epoch + 1;
    m.partial = partial;
    m.train_bits_per_symbol = st.epoch_count > 0 ? st.epoch_loss_nats / st.epoch_count / kLn2 : 0;
    std::optional<lstm::Network> averaged;
    if (averaging()) averaged.emplace(averaged_network());
    const lstm::Network& model = averaged ? *averaged : trainer->network();
    if (!data.valid.empty()) {
      const ModelScore v = score_network_shared(model, vocab, data.valid, settings.reducer);
      m.valid_bits_per_symbol = v.bits_per_symbol();
      m.valid_bits_per_note = v.bits_per_note();
    }
    m.seconds = st.elapsed_s;
    m.steps = trainer->step_count();
    m.symbols = st.symbols;
    m.lr = current_lr();
    if (!data.valid.empty()) {
      if (detail::record_validation(st, m)) best_pending = true;
      if (trainer->report_validation(m.valid_bits_per_note))
        log(cb, detail::plateau_message(*trainer));
    }
    std::vector<Composition> samples;
    if (settings.samples_per_epoch > 0 && writes_run_files(settings.reducer)) {
      ComposeOptions o;
      o.count = settings.samples_per_epoch;
      o.length = settings.sample_length;
      o.temperature = settings.sample_temperature;
      o.seed = settings.seed * 1000003ull + static_cast<std::uint64_t>(m.epoch);
      if (!vocab.styles().empty())  // a styled run: the epochs take turns at the styles
        o.style = vocab.styles()[static_cast<std::size_t>(m.epoch - 1) % vocab.styles().size()];
      samples = compose(model, vocab, o);
      for (const auto& c : samples) st.samples.push_back({m.epoch, c.text});
    }
    st.history.push_back(m);
    if (cb.epoch_end) cb.epoch_end(m, samples);
  }
};

TrainingRun::TrainingRun(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrainingRun::~TrainingRun() = default;
TrainingRun::TrainingRun(TrainingRun&&) noexcept = default;

TrainingRun::TrainingRun(fs::path run_dir, const TrainSettings& settings, Split data,
                         Vocabulary vocab, std::vector<float> initial)
    : impl_(std::make_unique<Impl>()) {
  settings.validate();
  auto& m = *impl_;
  m.run_dir = std::move(run_dir);
  m.settings = settings;
  m.data = std::move(data);
  m.vocab = std::move(vocab);
  m.settings.network.vocab = m.vocab.size();
  m.init_data();
  m.check_memory();
  std::string slow_note = m.check_batch_time(m.settings.time_budget_s);
  if (writes_run_files(settings.reducer))  // of a first checkpoint write killed
    remove_stale_temp_files(m.run_dir / "checkpoints");
  if (!list_checkpoints(m.run_dir / "checkpoints").empty())
    throw InvalidArgument(m.run_dir.string() +
                          " already holds checkpoints: use --resume or another --run-dir");
  detail::check_new_run(m.run_dir, settings, !m.data.valid.empty());
  m.trainer = std::make_unique<lstm::Trainer>(
      initial.empty() ? lstm::Network(m.settings.network, m.settings.execution)
                      : lstm::Network(m.settings.network, std::move(initial), m.settings.execution),
      m.settings.train);
  m.trainer->set_reducer(m.settings.reducer);
  m.st.lr = m.settings.train.optimizer.lr;
  if (!slow_note.empty()) resume_notes_.push_back(std::move(slow_note));
}

TrainingRun TrainingRun::resume(fs::path run_dir, const TrainSettings& settings, Split data,
                                int threads) {
  auto impl = std::make_unique<Impl>();
  auto& m = *impl;
  m.run_dir = std::move(run_dir);
  m.settings = settings;
  if (threads > 0) m.settings.execution.threads = threads;
  // Temporary files of a run killed while writing a checkpoint or `latest`.
  std::vector<std::string> removed;
  for (const auto& d : {m.run_dir, m.run_dir / "checkpoints"})
    for (const auto& p :
         writes_run_files(settings.reducer) ? remove_stale_temp_files(d) : std::vector<fs::path>{})
      removed.push_back("removed the temporary file " + p.string() + " of an interrupted write");
  m.data = std::move(data);
  std::vector<std::string> skipped;
  bool data_ready = false;
  // The first checkpoint that loads gives the vocabulary and so the data's windows; every
  // candidate must then describe a place in those data, else resume falls back to an older one.
  GoodCheckpoint good = load_good(m.run_dir, &skipped, [&](const GoodCheckpoint& g) {
    if (!data_ready) {
      m.vocab = Vocabulary::parse(g.ck.vocabulary);
      m.settings.network.vocab = m.vocab.size();
      for (const auto& mel : m.data.train)
        if (mel.kind != m.vocab.kind() || !m.vocab.covers(mel))
          throw RunMismatch(g.path.string() + ": vocabulary \"" + m.vocab.chars() +
                            "\" does not cover the training data (" + mel.source + ")");
      m.init_data();
      data_ready = true;
    }
    m.check_belongs(g);
  });
  m.check_memory();
  const fs::path loaded = good.path;
  m.adopt(std::move(good), 0.0);
  // Against the budget left (a run with none left ends at its first check: nothing to refuse).
  const double budget_left = m.settings.time_budget_s - m.st.elapsed_s;
  std::string slow_note =
      m.check_batch_time(m.settings.time_budget_s > 0 && budget_left <= 0 ? 0.0 : budget_left);
  const std::string best_note = writes_run_files(settings.reducer) ? m.reconcile_best() : "";
  // Checkpoints written after the one we continue from belong to the lost future.
  for (const auto& p : list_checkpoints(m.run_dir / "checkpoints"))
    if (p.filename() > loaded.filename() && writes_run_files(settings.reducer)) {
      std::error_code ec;
      fs::remove(p, ec);
    }
  TrainingRun run(std::move(impl));
  for (auto& s : skipped) s = "passing over checkpoint " + s;
  run.resume_notes_ = std::move(removed);
  run.resume_notes_.insert(run.resume_notes_.end(), skipped.begin(), skipped.end());
  if (!best_note.empty()) run.resume_notes_.push_back(best_note);
  if (!slow_note.empty()) run.resume_notes_.push_back(std::move(slow_note));
  return run;
}

RunEnd TrainingRun::run(const std::atomic<bool>& stop, const TrainCallbacks& cb) {
  auto& m = *impl_;
  for (const auto& s : resume_notes_) m.log(cb, s);
  resume_notes_.clear();
  // A run that ended may have been resumed with more epochs or more time: whether it is
  // finished is decided by the settings now in force (whichever limit comes first).
  if (m.st.finished) {
    const bool epochs_left = m.settings.epochs <= 0 || m.st.epoch < m.settings.epochs;
    const bool time_left =
        m.settings.time_budget_s <= 0 || m.st.elapsed_s < m.settings.time_budget_s;
    if (epochs_left && time_left && !detail::patience_spent(m.st, m.settings.patience))
      m.st.finished = m.st.stopped_early = false;
  }
  m.trainer->broadcast_from_root();        // identical replicas (and no rank writes before this)
  if (m.latest.empty()) m.save(cb, stop);  // the first good checkpoint, for reloads
  const auto session_start = Clock::now();
  const double base_elapsed = m.st.elapsed_s;
  auto last_ckpt = Clock::now();
  const std::size_t batches = m.batches();
  std::size_t session_batches = 0;
  double ema_bits = -1.0;
  auto elapsed = [&] {
    return base_elapsed + std::chrono::duration<double>(Clock::now() - session_start).count();
  };
  const std::size_t start_done = static_cast<std::size_t>(m.st.epoch) * batches + m.st.next_batch;
  while (!m.st.finished) {
    const StopDecision agreed =
        agree_on_stop(m.settings.reducer, stop.load(),
                      m.settings.time_budget_s > 0 && elapsed() >= m.settings.time_budget_s);
    if (agreed.stop) {
      m.st.elapsed_s = elapsed();
      if (!m.saved_now) m.save(cb, stop);  // a stop during a checkpoint write: that one
      return RunEnd::interrupted;
    }
    if (agreed.out_of_time) {
      m.st.elapsed_s = elapsed();
      if (m.st.next_batch > 0 || m.st.history.empty()) m.epoch_end(true, cb);
      m.st.finished = true;
      m.save(cb, stop);
      break;
    }
    if (m.st.next_batch < batches) {
      const auto& idx = m.order(m.st.epoch);
      double loss = 0, count = 0;
      const auto t0 = Clock::now();
      if (m.train_batch(idx, m.st.next_batch, loss, count, cb) == Impl::BatchResult::reload) {
        m.st.elapsed_s = elapsed();
        m.reload(cb);
        continue;
      }
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
      ++m.st.next_batch;
      m.saved_now = false;
      ++session_batches;
      m.st.epoch_loss_nats += loss;
      m.st.epoch_count += count;
      m.st.symbols += static_cast<std::uint64_t>(count);
      m.st.elapsed_s = elapsed();
      if (count > 0) {
        const double bits = loss / count / kLn2;
        ema_bits = ema_bits < 0 ? bits : 0.9 * ema_bits + 0.1 * bits;
      }
      if (cb.progress) {
        ProgressInfo p;
        p.epoch = m.st.epoch + 1;
        p.epochs = m.settings.epochs;
        p.batch = m.st.next_batch;
        p.batches = batches;
        p.bits_per_symbol = ema_bits;
        p.symbols_per_s = dt > 0 ? count / dt : 0;
        p.elapsed_s = m.st.elapsed_s;
        const double session_s = m.st.elapsed_s - base_elapsed;
        const std::size_t done = static_cast<std::size_t>(m.st.epoch) * batches + m.st.next_batch;
        double eta_epochs = -1, frac_epochs = 0;
        if (m.settings.epochs > 0) {
          const std::size_t total = static_cast<std::size_t>(m.settings.epochs) * batches;
          frac_epochs = static_cast<double>(done) / static_cast<double>(total);
          if (done > start_done)
            eta_epochs = session_s / static_cast<double>(done - start_done) *
                         static_cast<double>(total - std::min(total, done));
        }
        double eta_time = -1, frac_time = 0;
        if (m.settings.time_budget_s > 0) {
          eta_time = std::max(0.0, m.settings.time_budget_s - m.st.elapsed_s);
          frac_time = m.st.elapsed_s / m.settings.time_budget_s;
        }
        p.eta_s = eta_epochs < 0 ? eta_time
                                 : (eta_time < 0 ? eta_epochs : std::min(eta_epochs, eta_time));
        p.fraction = std::min(1.0, std::max(frac_epochs, frac_time));
        cb.progress(p);
      }
      const double since = std::chrono::duration<double>(Clock::now() - last_ckpt).count();
      if (since >= m.settings.checkpoint_every_s && m.st.next_batch < batches) {
        if (m.save(cb, stop)) last_ckpt = Clock::now();
      }
      continue;
    }
    // End of an epoch.
    m.epoch_end(false, cb);
    ++m.st.epoch;
    m.st.next_batch = 0;
    m.st.epoch_loss_nats = m.st.epoch_count = 0;
    if (m.settings.epochs > 0 && m.st.epoch >= m.settings.epochs) m.st.finished = true;
    if (!m.st.finished && detail::patience_spent(m.st, m.settings.patience)) {
      m.st.finished = m.st.stopped_early = true;
      m.log(cb, detail::early_stop_message(m.st));
    }
    m.st.elapsed_s = elapsed();
    if (m.save(cb, stop)) last_ckpt = Clock::now();
  }
  (void)session_batches;
  return RunEnd::finished;
}

const RunState& TrainingRun::state() const { return impl_->st; }
const TrainSettings& TrainingRun::settings() const { return impl_->settings; }
const Vocabulary& TrainingRun::vocabulary() const { return impl_->vocab; }
const Split& TrainingRun::data() const { return impl_->data; }
const lstm::Network& TrainingRun::network() const { return impl_->trainer->network(); }
std::uint64_t TrainingRun::data_hash() const { return impl_->hash; }
std::size_t TrainingRun::batches_per_epoch() const { return impl_->batches(); }
std::size_t TrainingRun::windows() const { return impl_->windows.size(); }
fs::path TrainingRun::latest_checkpoint() const { return impl_->latest; }
fs::path TrainingRun::best_checkpoint() const {
  std::error_code ec;
  const fs::path p = best_checkpoint_path(impl_->run_dir);
  return fs::exists(p, ec) ? p : fs::path();
}

fs::path find_good_checkpoint(const fs::path& run_dir, std::vector<std::string>* skipped) {
  return load_good(run_dir, skipped).path;
}

fs::path resolve_checkpoint(const fs::path& path, std::vector<std::string>* skipped,
                            CheckpointChoice choice) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (fs::is_directory(path / "checkpoints", ec)) {
      if (choice == CheckpointChoice::best)
        if (auto best = detail::usable_best(path, skipped)) return *best;
      return find_good_checkpoint(path, skipped);
    }
    throw InvalidArgument(path.string() +
                          ": a directory without checkpoints/ (not a run directory)");
  }
  if (!fs::exists(path, ec)) throw IoError(path.string() + ": no such file or directory");
  return path;
}

}  // namespace melodl::pipeline
