// web/listener.cpp: see listener.h.
#include "web/listener.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "base/error.h"

namespace melodl::web {

namespace {

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

std::vector<std::size_t> sample_indices(std::size_t n, std::size_t k, std::uint64_t seed) {
  std::vector<std::size_t> out;
  if (n == 0 || k == 0) return out;
  if (k >= n) {
    out.resize(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = i;
    return out;
  }
  // Floyd's algorithm: k distinct draws, one random number each. mt19937_64 and a plain
  // modulo (not std::uniform_int_distribution) keep the choice identical on every platform.
  std::mt19937_64 rng(splitmix(seed));
  std::unordered_set<std::size_t> chosen;
  for (std::size_t j = n - k; j < n; ++j) {
    const std::size_t t = static_cast<std::size_t>(rng() % (j + 1));
    if (!chosen.insert(t).second) chosen.insert(j);
  }
  out.assign(chosen.begin(), chosen.end());
  std::sort(out.begin(), out.end());
  return out;
}

void ListenerOptions::validate() const {
  if (samples < 1) throw InvalidArgument("--viz-samples: must be >= 1");
  if (!(rate_hz > 0) || !std::isfinite(rate_hz))
    throw InvalidArgument("--viz-rate: must be a positive number of snapshots per second");
}

void validate_requested_lr(double lr) {
  if (std::isfinite(lr) && lr >= kMinRequestedLr && lr <= kMaxRequestedLr) return;
  char buf[160];
  std::snprintf(buf, sizeof buf, "lr: must be a finite number with %g <= lr <= %g, got %g",
                kMinRequestedLr, kMaxRequestedLr, lr);
  throw InvalidArgument(buf);
}

VizListener::VizListener(const lstm::ParamLayout& layout, const ListenerOptions& options)
    : options_(options), start_(std::chrono::steady_clock::now()) {
  options_.validate();
  std::uint64_t k = 0;
  for (const auto& t : layout.tensors) {
    ArrayInfo a;
    a.name = t.name;
    a.shape = t.shape;
    a.offset = t.offset;
    a.size = t.size();
    a.indices = sample_indices(a.size, static_cast<std::size_t>(options_.samples),
                               splitmix(options_.seed + 0x51ED270Bull * ++k));
    arrays_.push_back(std::move(a));
  }
  prev_values_.resize(arrays_.size());
}

Snapshot VizListener::take_snapshot(std::span<const float> params, std::span<const float> grads,
                                    std::int64_t step, double loss_nats, double lr,
                                    std::chrono::steady_clock::time_point now) const {
  Snapshot s;
  s.step = step;
  s.loss_bits = loss_nats / 0.6931471805599453;
  s.lr = lr;
  s.time_s = std::chrono::duration<double>(now - start_).count();
  s.arrays.resize(arrays_.size());
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    const auto& a = arrays_[i];
    auto& o = s.arrays[i];
    o.values.resize(a.indices.size());
    o.grads.resize(a.indices.size());
    for (std::size_t j = 0; j < a.indices.size(); ++j) {
      const std::size_t at = a.offset + a.indices[j];
      o.values[j] = at < params.size() ? params[at] : 0.0f;
      o.grads[j] = at < grads.size() ? grads[at] : 0.0f;
    }
    double g2 = 0;
    if (a.offset + a.size <= grads.size())
      for (std::size_t j = 0; j < a.size; ++j) {
        const double g = grads[a.offset + j];
        g2 += g * g;
      }
    o.grad_norm = std::sqrt(g2);
    if (have_prev_) {
      double d2 = 0, w2 = 0;
      for (std::size_t j = 0; j < o.values.size(); ++j) {
        const double d = static_cast<double>(o.values[j]) - prev_values_[i][j];
        d2 += d * d;
        w2 += static_cast<double>(o.values[j]) * o.values[j];
      }
      o.update_ratio = w2 > 0 ? std::sqrt(d2 / w2) : 0.0;
    }
  }
  return s;
}

bool VizListener::held() const {
  return paused_ && step_credits_ == 0 && !shut_down_ && !(stop_ && stop_->load());
}

void VizListener::on_step(std::span<const float> params, std::span<const float> grads,
                          std::int64_t step, double loss_nats, double lr) {
  const auto now = std::chrono::steady_clock::now();
  // Shown: the first step, a step while paused (a single step), the first step after a
  // hold, and otherwise at most rate_hz steps a second.
  bool due = taken_ == 0 || last_shown_held_ ||
             std::chrono::duration<double>(now - last_snapshot_).count() >= 1.0 / options_.rate_hz;
  if (!due) due = paused();
  std::optional<Snapshot> s;
  if (due) s = take_snapshot(params, grads, step, loss_nats, lr, now);

  std::unique_lock lock(mu_);
  // The step a pause holds the training at is always shown, even when the pause came
  // after the check above: the page then sees the step that "compose now" and a single
  // step start from. (The snapshot is gathered without the lock, then the hold re-checked.)
  while (!s && held()) {
    lock.unlock();
    s = take_snapshot(params, grads, step, loss_nats, lr, now);
    lock.lock();
  }
  if (s) {
    s->paused = held();  // the training waits at this step (published under the same lock)
    last_shown_held_ = s->paused;
    last_snapshot_ = now;
    ++taken_;
    publish_locked(std::move(*s));
    news_cv_.notify_all();
  }
  hand_over_weights(params, step);
  while (held()) {
    gate_cv_.wait_for(lock, std::chrono::milliseconds(100));
    hand_over_weights(params, step);  // "compose now" while paused
  }
  if (paused_ && step_credits_ > 0) --step_credits_;
  lock.unlock();

  // Keep this step's sampled values for the next update-to-weight ratio.
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    const auto& a = arrays_[i];
    auto& p = prev_values_[i];
    p.resize(a.indices.size());
    for (std::size_t j = 0; j < a.indices.size(); ++j) {
      const std::size_t at = a.offset + a.indices[j];
      p[j] = at < params.size() ? params[at] : 0.0f;
    }
  }
  have_prev_ = true;
}

void VizListener::hand_over_weights(std::span<const float> params, std::int64_t step) {
  if (!weights_wanted_) return;
  weights_.params.assign(params.begin(), params.end());
  weights_.step = step;
  weights_wanted_ = false;
  ++weights_seq_;
  news_cv_.notify_all();
}

std::optional<VizListener::Weights> VizListener::request_weights(
    std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const std::uint64_t seq = weights_seq_;
  weights_wanted_ = true;
  ++weights_waiting_;
  gate_cv_.notify_all();  // a paused training hands them over from its wait
  news_cv_.wait_for(lock, timeout, [&] { return weights_seq_ != seq || shut_down_; });
  --weights_waiting_;
  if (weights_seq_ == seq) {
    if (weights_waiting_ == 0) weights_wanted_ = false;  // no copy that nobody takes
    return std::nullopt;
  }
  return weights_;
}

void VizListener::publish_locked(Snapshot s) {
  s.seq = latest_.seq + 1;
  if (loss_history_.size() >= 2048) {  // keep every other point
    std::size_t k = 0;
    for (std::size_t i = 0; i < loss_history_.size(); i += 2) loss_history_[k++] = loss_history_[i];
    loss_history_.resize(k);
  }
  loss_history_.emplace_back(s.step, s.loss_bits);
  latest_ = std::move(s);
}

void VizListener::on_epoch(int epoch, double valid_bits,
                           const std::vector<encode::SymbolMelody>& melodies) {
  EpochSamples e;
  e.epoch = epoch;
  e.valid_bits = valid_bits;
  encode::RenderOptions r;
  r.start_pitch = 60;
  for (const auto& m : melodies) {
    std::vector<SampleNote> notes;
    for (const auto& n : encode::to_notes(m, r)) notes.push_back({n.pitch, n.start_s, n.end_s});
    e.melodies.push_back(std::move(notes));
  }
  {
    std::lock_guard lock(mu_);
    e.seq = samples_.seq + 1;
    samples_ = std::move(e);
  }
  news_cv_.notify_all();
}

void VizListener::pause() {
  {
    std::lock_guard lock(mu_);
    paused_ = true;
    step_credits_ = 0;
    ++control_seq_;
  }
  news_cv_.notify_all();
}

void VizListener::resume() {
  {
    std::lock_guard lock(mu_);
    paused_ = false;
    step_credits_ = 0;
    ++control_seq_;
  }
  gate_cv_.notify_all();
  news_cv_.notify_all();
}

void VizListener::single_step() {
  {
    std::lock_guard lock(mu_);
    if (!paused_) return;
    ++step_credits_;
    ++control_seq_;
  }
  gate_cv_.notify_all();
}

bool VizListener::paused() const {
  std::lock_guard lock(mu_);
  return paused_;
}

void VizListener::shutdown() {
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    ++control_seq_;
  }
  gate_cv_.notify_all();
  news_cv_.notify_all();
}

void VizListener::request_lr(double lr) {
  validate_requested_lr(lr);
  {
    std::lock_guard lock(mu_);
    requested_lr_ = lr;
    ++control_seq_;
  }
  news_cv_.notify_all();
}

std::optional<double> VizListener::take_requested_lr() {
  std::optional<double> out;
  {
    std::lock_guard lock(mu_);
    if (!requested_lr_) return std::nullopt;
    out = std::exchange(requested_lr_, std::nullopt);
    ++control_seq_;
  }
  news_cv_.notify_all();
  return out;
}

std::optional<double> VizListener::requested_lr() const {
  std::lock_guard lock(mu_);
  return requested_lr_;
}

bool VizListener::is_shut_down() const {
  std::lock_guard lock(mu_);
  return shut_down_;
}

Snapshot VizListener::latest() const {
  std::lock_guard lock(mu_);
  return latest_;
}

EpochSamples VizListener::latest_samples() const {
  std::lock_guard lock(mu_);
  return samples_;
}

bool VizListener::wait_for_news(std::uint64_t seq, std::uint64_t samples_seq,
                                std::uint64_t control_seq,
                                std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return news_cv_.wait_for(lock, timeout, [&] {
    return latest_.seq > seq || samples_.seq > samples_seq || control_seq_ > control_seq ||
           shut_down_;
  });
}

std::uint64_t VizListener::control_seq() const {
  std::lock_guard lock(mu_);
  return control_seq_;
}

std::vector<std::pair<std::int64_t, double>> VizListener::loss_history() const {
  std::lock_guard lock(mu_);
  return loss_history_;
}

std::int64_t VizListener::snapshots_taken() const {
  std::lock_guard lock(mu_);
  return latest_.seq > 0 ? static_cast<std::int64_t>(latest_.seq) : 0;
}

}  // namespace melodl::web
