// web/listener.h: the training side of `melodl train --viz` (docs/viz.md).
// A VizListener samples K parameters of every parameter array of a network (chosen once
// with a seed), and after each optimiser update copies their values and gradients into a
// small snapshot at most `rate_hz` times a second (at most once per step). The HTTP
// server thread (viz_server.h) waits for new snapshots and serialises them; the training
// thread only gathers a few hundred floats. The listener also pauses training: on_step
// blocks while paused, and single_step() lets exactly one more update through. The page
// may ask for a new learning rate (request_lr); the training loop polls
// take_requested_lr() after each update and applies it itself.
//
// Example:
//   VizListener viz(network.layout(), {.samples = 64, .rate_hz = 10, .seed = 1});
//   ... after each update: viz.on_step(params, grads, step, loss_nats, lr);
//       if (auto lr = viz.take_requested_lr()) optimizer.set_lr(float(*lr)), ...;
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "encode/melody.h"
#include "lstm/network.h"

namespace melodl::web {

// min(k, n) distinct indices in [0, n), sorted, chosen uniformly from `seed` (the same
// seed gives the same indices). n == 0 or k == 0 gives none.
std::vector<std::size_t> sample_indices(std::size_t n, std::size_t k, std::uint64_t seed);

struct ListenerOptions {
  int samples = 64;     // K per parameter array
  double rate_hz = 10;  // most snapshots per second (> 0)
  std::uint64_t seed = 1;
  void validate() const;  // throws InvalidArgument naming the option
};

// The learning rates the page may ask for (POST /api/lr): finite, kMinRequestedLr <= lr <=
// kMaxRequestedLr.
inline constexpr double kMinRequestedLr = 1e-7;
inline constexpr double kMaxRequestedLr = 10.0;
// Throws InvalidArgument("lr: must be a finite number with 1e-07 <= lr <= 10, got X")
// unless `lr` is in that range.
void validate_requested_lr(double lr);

struct ArrayInfo {
  std::string name;                  // "layer0.W", ... "out.b"
  std::vector<std::int64_t> shape;   // row-major
  std::size_t offset = 0, size = 0;  // in the flat parameter buffer
  std::vector<std::size_t> indices;  // sampled, within the array
};

struct ArraySnapshot {
  std::vector<float> values, grads;  // at the sampled indices
  double grad_norm = 0;              // L2 norm of the whole array's gradient
  double update_ratio = 0;           // |w_t - w_{t-1}| / |w_t| over the sampled parameters
};

struct Snapshot {
  std::uint64_t seq = 0;  // 1, 2, ... (0 = none yet)
  std::int64_t step = 0;  // optimiser updates so far
  double loss_bits = 0;   // the update's mean loss, bits per symbol
  double lr = 0;
  double time_s = 0;    // since the listener was made
  bool paused = false;  // the training was held (paused) at this step when it was published
  std::vector<ArraySnapshot> arrays;  // parallel to VizListener::arrays()
};

struct SampleNote {
  int pitch = 60;
  double start_s = 0, end_s = 0;
};
struct EpochSamples {
  std::uint64_t seq = 0;
  int epoch = 0;
  double valid_bits = 0;
  std::vector<std::vector<SampleNote>> melodies;
};

// JSON texts the server sends (docs/viz.md "HTTP interface"; web/viz_json.cpp).
std::string layout_json(const std::vector<ArrayInfo>& arrays, const ListenerOptions& options);
std::string snapshot_json(const Snapshot& s);
std::string samples_json(const EpochSamples& s);

class VizListener;
// The control state C {"paused","step","lr","lr_requested"} (answers of the POST routes,
// the stream's status events) and the answer of GET /api/latest.
std::string status_json(const VizListener& l);
std::string latest_json(const VizListener& l);

class VizListener {
 public:
  VizListener(const lstm::ParamLayout& layout, const ListenerOptions& options);

  const std::vector<ArrayInfo>& arrays() const { return arrays_; }
  const ListenerOptions& options() const { return options_; }

  // Training thread, after every optimiser update. params/grads are the whole flat
  // buffers (layout().total floats). Blocks while paused (until resume(), single_step(),
  // shutdown() or *stop becomes true).
  void on_step(std::span<const float> params, std::span<const float> grads, std::int64_t step,
               double loss_nats, double lr);
  // After an epoch: the sample melodies, rendered to notes (start pitch 60).
  void on_epoch(int epoch, double valid_bits, const std::vector<encode::SymbolMelody>& melodies);

  // Control (any thread).
  void pause();
  void resume();
  void single_step();  // when paused: let one update through, then pause again
  bool paused() const;
  void set_stop_flag(const std::atomic<bool>* stop) { stop_ = stop; }
  void shutdown();  // releases a paused training for good, wakes waiting readers
  bool is_shut_down() const;

  // Learning-rate requests. request_lr (server threads) validates (validate_requested_lr)
  // and stores the value, replacing an earlier one not yet taken. take_requested_lr (the
  // training thread, after each update) returns the pending value once, then nullopt until
  // the next request; the loop applies it to the optimiser before the next update, so the
  // next snapshot carries it. requested_lr() peeks without taking (for /api/latest).
  void request_lr(double lr);
  std::optional<double> take_requested_lr();
  std::optional<double> requested_lr() const;

  // "Compose now" (a server thread): asks the training thread for a copy of the whole
  // parameter buffer, which on_step takes after its update (or while paused in it), so the
  // copy is never read while an update writes it. Waits up to `timeout`; nullopt when no
  // update came (e.g. during validation) or the listener shut down. The training thread
  // copies under the listener's lock, never while the optimiser writes; callers may wait
  // together.
  struct Weights {
    std::int64_t step = 0;  // updates they have had
    std::vector<float> params;
  };
  std::optional<Weights> request_weights(std::chrono::milliseconds timeout);

  // Reader side (server threads).
  Snapshot latest() const;
  EpochSamples latest_samples() const;
  // Waits up to `timeout` for a snapshot newer than `seq`, samples newer than
  // `samples_seq` or a control change newer than `control_seq`; returns true if any.
  bool wait_for_news(std::uint64_t seq, std::uint64_t samples_seq, std::uint64_t control_seq,
                     std::chrono::milliseconds timeout) const;
  std::uint64_t control_seq() const;
  std::int64_t snapshots_taken() const;
  // (step, loss bits) of past snapshots, oldest first, thinned to at most 2048 points,
  // so that a page opened late still draws the whole loss curve.
  std::vector<std::pair<std::int64_t, double>> loss_history() const;

 private:
  Snapshot take_snapshot(std::span<const float> params, std::span<const float> grads,
                         std::int64_t step, double loss_nats, double lr,
                         std::chrono::steady_clock::time_point now) const;
  bool held() const;                // mu_ held: on_step must wait at its gate
  void publish_locked(Snapshot s);  // mu_ held
  void hand_over_weights(std::span<const float> params, std::int64_t step);  // mu_ held
  ListenerOptions options_;
  std::vector<ArrayInfo> arrays_;
  std::vector<std::vector<float>> prev_values_;  // training thread only
  bool have_prev_ = false;
  std::chrono::steady_clock::time_point start_, last_snapshot_{};
  const std::atomic<bool>* stop_ = nullptr;

  mutable std::mutex mu_;
  mutable std::condition_variable news_cv_, gate_cv_;
  Snapshot latest_;
  std::vector<std::pair<std::int64_t, double>> loss_history_;
  EpochSamples samples_;
  bool paused_ = false, shut_down_ = false;
  std::optional<double> requested_lr_;
  int step_credits_ = 0;
  std::uint64_t control_seq_ = 0;
  std::int64_t taken_ = 0;        // training thread only
  bool last_shown_held_ = false;  // training thread only
  bool weights_wanted_ = false;   // the next on_step copies the weights
  int weights_waiting_ = 0;       // request_weights callers waiting
  std::uint64_t weights_seq_ = 0;
  Weights weights_;  // the last copy handed over
};

}  // namespace melodl::web
