// lstm/trainer.cpp: TrainConfig and the Trainer: the one truncated-BPTT loop (segments of
// tbptt_fwd, written once in for_each_segment) over a backend (lstm/backend.h): the CPU's
// (lstm/cpu/trainer_backend.cpp) or, when the network runs on CUDA, the device's
// (lstm/cuda/trainer_backend.cpp). Tests: tests/lstm/trainer_test.cpp, backend_test.cpp,
// device_test.cpp, cuda_backend_test.cpp.
#include "lstm/trainer.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "lstm/backend.h"

namespace melodl::lstm {

// ---- TrainConfig ------------------------------------------------------------------------

// New fields (issue 15) as JSON objects with defaults: a config written before them (no
// "dropout" / "schedule" / "weight_decay") reads back with them off.
// (the kind by name; an unknown name is an error, not the first value)
void to_json(nlohmann::json& j, LrScheduleKind k) { j = to_string(k); }
void from_json(const nlohmann::json& j, LrScheduleKind& k) {
  k = lr_schedule_kind_from_string(j.get<std::string>());
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DropoutConfig, output, variational, recurrent)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LrScheduleConfig, kind, warmup_steps, decay_steps,
                                                min_lr, factor, patience, threshold)

void TrainConfig::validate() const {
  optimizer.validate();
  auto fail_p = [](const std::string& field, float got) {
    throw InvalidArgument("[TrainConfig::validate] " + field + " must be in [0, 1), got " +
                          std::to_string(got));
  };
  if (!(dropout.output >= 0 && dropout.output < 1)) fail_p("dropout.output", dropout.output);
  if (!(dropout.recurrent >= 0 && dropout.recurrent < 1))
    fail_p("dropout.recurrent", dropout.recurrent);
  schedule.validate(optimizer.lr);
  auto fail = [](const std::string& field, const std::string& what, int got) {
    throw InvalidArgument("[TrainConfig::validate] " + field + " " + what + ", got " +
                          std::to_string(got));
  };
  if (tbptt_fwd < 0) fail("tbptt_fwd", "must be >= 0 (0 = whole sequence)", tbptt_fwd);
  if (tbptt_bwd < 0) fail("tbptt_bwd", "must be >= 0 (0 = tbptt_fwd)", tbptt_bwd);
  if (tbptt_fwd > 0 && tbptt_bwd > tbptt_fwd)
    fail("tbptt_bwd", "must be <= tbptt_fwd (" + std::to_string(tbptt_fwd) + ")", tbptt_bwd);
}

std::string TrainConfig::to_json() const {
  nlohmann::json j;
  j["optimizer"] = to_string(optimizer.kind);
  j["lr"] = optimizer.lr;
  j["momentum"] = optimizer.momentum;
  j["beta1"] = optimizer.beta1;
  j["beta2"] = optimizer.beta2;
  j["rms_decay"] = optimizer.rms_decay;
  j["eps"] = optimizer.eps;
  j["l2"] = optimizer.l2;
  j["clip_norm"] = optimizer.clip_norm;
  // The options added by issue 15 are written only when on, so a run that uses none of them
  // writes the same JSON as before they existed (config.json and checkpoints stay as they
  // were); from_json reads a missing key as off.
  if (optimizer.weight_decay != 0.0f) j["weight_decay"] = optimizer.weight_decay;
  if (optimizer.average != 0.0f) j["average"] = optimizer.average;
  if (nlohmann::json(dropout) != nlohmann::json(DropoutConfig{})) j["dropout"] = dropout;
  if (nlohmann::json(schedule) != nlohmann::json(LrScheduleConfig{})) j["schedule"] = schedule;
  j["tbptt_fwd"] = tbptt_fwd;
  j["tbptt_bwd"] = tbptt_bwd;
  j["reset_state_per_batch"] = reset_state_per_batch;
  j["seed"] = seed;
  return j.dump();
}

TrainConfig TrainConfig::from_json(const std::string& text) {
  TrainConfig c;
  try {
    const auto j = nlohmann::json::parse(text);
    c.optimizer.kind = optimizer_kind_from_string(j.at("optimizer").get<std::string>());
    c.optimizer.lr = j.at("lr").get<float>();
    c.optimizer.momentum = j.at("momentum").get<float>();
    c.optimizer.beta1 = j.at("beta1").get<float>();
    c.optimizer.beta2 = j.at("beta2").get<float>();
    c.optimizer.rms_decay = j.at("rms_decay").get<float>();
    c.optimizer.eps = j.at("eps").get<float>();
    c.optimizer.l2 = j.at("l2").get<float>();
    c.optimizer.clip_norm = j.at("clip_norm").get<float>();
    c.optimizer.weight_decay = j.value("weight_decay", 0.0f);
    c.optimizer.average = j.value("average", 0.0f);
    c.dropout = j.value("dropout", DropoutConfig{});
    c.schedule = j.value("schedule", LrScheduleConfig{});
    c.tbptt_fwd = j.at("tbptt_fwd").get<int>();
    c.tbptt_bwd = j.at("tbptt_bwd").get<int>();
    c.reset_state_per_batch = j.at("reset_state_per_batch").get<bool>();
    c.seed = j.at("seed").get<std::uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(std::string("[TrainConfig::from_json] bad training config JSON: ") +
                          e.what());
  }
  return c;
}

TrainConfig TrainConfig::melody_modeling_example() {
  TrainConfig c;
  c.optimizer.kind = OptimizerKind::dl4j_rmsprop;
  c.optimizer.lr = 0.1f;
  c.optimizer.rms_decay = 0.95f;
  c.optimizer.eps = 1e-8f;
  c.optimizer.l2 = 0.001f;
  c.tbptt_fwd = 50;
  c.tbptt_bwd = 50;
  c.reset_state_per_batch = true;
  c.seed = 12345;
  return c;
}

std::size_t draw_dropout_masks(const DropoutConfig& d, int layers, int hidden, int T, int B,
                               Rng& rng, std::vector<float>& out) {
  const std::size_t bh = static_cast<std::size_t>(B) * hidden, tbh = bh * T;
  const std::size_t n_out = d.output > 0 ? layers * tbh : 0;
  const std::size_t n_rec = d.recurrent > 0 ? layers * bh : 0;
  out.resize(n_out + n_rec);
  auto draw = [&](float* m, std::size_t n, float p) {
    const float keep = 1.0f / (1.0f - p);
    for (std::size_t k = 0; k < n; ++k) m[k] = rng.uniform() >= p ? keep : 0.0f;
  };
  for (int l = 0; n_out && l < layers; ++l) {
    float* m = out.data() + l * tbh;
    if (!d.variational) {
      draw(m, tbh, d.output);
      continue;
    }
    draw(m, bh, d.output);
    for (int t = 1; t < T; ++t) std::copy_n(m, bh, m + t * bh);
  }
  if (n_rec) draw(out.data() + n_out, n_rec, d.recurrent);
  return n_out;
}

NetworkConfig melody_modeling_network(int vocab) {
  NetworkConfig c;
  c.vocab = vocab;
  c.layers = 2;
  c.hidden = 200;
  c.peepholes = true;
  c.forget_bias_init = 1.0f;
  c.seed = 12345;
  return c;
}

// ---- Trainer ----------------------------------------------------------------------------

Trainer::Trainer(Network network, const TrainConfig& config)
    : network_(std::move(network)),
      config_(config),
      optimizer_((config.validate(), config.optimizer), network_.num_params()),
      rng_(config.seed),
      base_lr_(config.optimizer.lr),
      schedule_(config.schedule) {
  std::vector<std::uint8_t> mask(network_.num_params(), 0);
  for (const auto& t : network_.layout().tensors)
    if (t.is_weight) std::fill_n(mask.begin() + t.offset, t.size(), 1);
  MELODL_CHECK(network_.device() != Device::cuda || config_.dropout.recurrent == 0,
               "[Trainer] recurrent dropout (dropout.recurrent) is not supported by the CUDA "
               "backend yet (device \"cuda\"): train on the CPU or set it to 0");
  MELODL_CHECK(network_.device() != Device::cuda || config_.optimizer.average == 0,
               "[Trainer] weight averaging (optimizer.average) is not supported by the CUDA "
               "backend yet (device \"cuda\"): train on the CPU or set it to 0");
  backend_ = network_.device() == Device::cuda
                 ? make_cuda_backend(network_, config_.optimizer, mask, optimizer_)
                 : make_cpu_backend(network_, mask);
}

Trainer::~Trainer() = default;
Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;

std::span<const float> Trainer::gradients() const { return backend_->gradients(network_); }

std::span<float> Trainer::mutable_gradients() { return backend_->mutable_gradients(network_); }

Optimizer& Trainer::optimizer() {
  backend_->slots_to_host(network_, optimizer_, true);
  return optimizer_;
}

const Optimizer& Trainer::optimizer() const {
  backend_->slots_to_host(network_, optimizer_, false);
  return optimizer_;
}

const State& Trainer::carried_state() const { return backend_->carried_state(network_); }

void Trainer::set_carried_state(State state) { backend_->set_carried_state(std::move(state)); }

void Trainer::set_learning_rate(float lr) {
  optimizer_.set_lr(lr);  // validates
  base_lr_ = lr;
}

float Trainer::learning_rate() const {
  return config_.schedule.active() ? schedule_.lr_at(base_lr_, optimizer_.steps())
                                   : optimizer_.config().lr;
}

void Trainer::schedule_update() {
  if (config_.schedule.active()) optimizer_.set_lr(schedule_.lr_at(base_lr_, optimizer_.steps()));
}

DropoutMasks Trainer::draw_dropout(int T, int B) {
  if (!config_.dropout.active()) return {};
  const int layers = network_.config().layers, hidden = network_.config().hidden;
  std::size_t n_out = 0;
  if (reducer_ && reducer_->ranks() > 1) {
    // Data-parallel: every rank takes one number of the shared generator (so the generators
    // stay equal on all ranks, whatever their share of the minibatch, and a checkpoint's is
    // every rank's) and draws its masks from a stream of its own keyed by it and the rank.
    const std::uint64_t key = rng_.next_u64();
    Rng own(key ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(reducer_->rank() + 1)));
    n_out = draw_dropout_masks(config_.dropout, layers, hidden, T, B, own, dropout_masks_);
  } else {
    n_out = draw_dropout_masks(config_.dropout, layers, hidden, T, B, rng_, dropout_masks_);
  }
  const std::span<const float> all(dropout_masks_);
  return {all.first(n_out), all.subspan(n_out)};
}

namespace {

void check_batch(const Batch& b, const NetworkConfig& cfg, const char* where) {
  const std::string w = std::string("[") + where + "] ";
  MELODL_CHECK(b.T >= 1 && b.B >= 1, w + "batch must have T >= 1 and B >= 1, got T=" +
                                         std::to_string(b.T) + " B=" + std::to_string(b.B));
  const std::size_t n = static_cast<std::size_t>(b.T) * b.B;
  MELODL_CHECK(b.inputs.size() == n, w + "inputs must be [T,B] (" + std::to_string(n) +
                                         " values), got " + std::to_string(b.inputs.size()));
  MELODL_CHECK(b.targets.size() == n, w + "targets must be [T,B] (" + std::to_string(n) +
                                          " values), got " + std::to_string(b.targets.size()));
  MELODL_CHECK(b.mask.empty() || b.mask.size() == n, w + "mask must be empty or [T,B] (" +
                                                         std::to_string(n) + " values), got " +
                                                         std::to_string(b.mask.size()));
  for (std::size_t k = 0; k < n; ++k) {
    MELODL_CHECK(b.inputs[k] >= 0 && b.inputs[k] < cfg.vocab,
                 w + "input symbol " + std::to_string(b.inputs[k]) + " at " + std::to_string(k) +
                     " out of range [0," + std::to_string(cfg.vocab) + ")");
    MELODL_CHECK(b.targets[k] >= 0 && b.targets[k] < cfg.vocab,
                 w + "target symbol " + std::to_string(b.targets[k]) + " at " + std::to_string(k) +
                     " out of range [0," + std::to_string(cfg.vocab) + ")");
  }
}

Batch slice(const Batch& b, int t_begin, int t_end) {
  const std::size_t off = static_cast<std::size_t>(t_begin) * b.B;
  const std::size_t len = static_cast<std::size_t>(t_end - t_begin) * b.B;
  Batch s;
  s.T = t_end - t_begin;
  s.B = b.B;
  s.inputs = b.inputs.subspan(off, len);
  s.targets = b.targets.subspan(off, len);
  if (!b.mask.empty()) s.mask = b.mask.subspan(off, len);
  return s;
}

void check_state(const State& s, const NetworkConfig& cfg, int B, const char* where) {
  MELODL_CHECK(s.batch == B && static_cast<int>(s.h.size()) == cfg.layers &&
                   static_cast<int>(s.c.size()) == cfg.layers &&
                   s.h[0].size() == static_cast<std::size_t>(B) * cfg.hidden,
               std::string("[") + where + "] state must be " + std::to_string(cfg.layers) +
                   " layers of [B,H]=[" + std::to_string(B) + "," + std::to_string(cfg.hidden) +
                   "], got batch " + std::to_string(s.batch));
}

// Calls fn(segment) for the consecutive segments of `len` steps (the last may be shorter) of
// a sequence batch until fn returns false.
template <class Fn>
void for_each_segment(const Batch& batch, int len, Fn&& fn) {
  for (int t = 0; t < batch.T; t += len)
    if (!fn(slice(batch, t, std::min(batch.T, t + len)))) return;
}

int segment_length(const TrainConfig& c, const Batch& b) {
  return c.tbptt_fwd > 0 ? c.tbptt_fwd : b.T;
}

}  // namespace

StepStats Trainer::compute_gradients(const Batch& segment, State& state, int bwd) {
  check_batch(segment, network_.config(), "Trainer::compute_gradients");
  check_state(state, network_.config(), segment.B, "Trainer::compute_gradients");
  backend_->load_scratch(network_, state);
  const StepStats s = backend_->segment(network_, optimizer_, segment, StateSlot::scratch, bwd,
                                        Pass::gradients, draw_dropout(segment.T, segment.B));
  backend_->store_scratch(network_, state);
  return s;
}

StepStats Trainer::train_segment(const Batch& segment, State& state) {
  check_batch(segment, network_.config(), "Trainer::train_segment");
  MELODL_CHECK(!reducer_,
               "[Trainer::train_segment] not available with a GradientReducer (its "
               "update is not reduced): use train_batch or compute_gradients + "
               "apply_update");
  check_state(state, network_.config(), segment.B, "Trainer::train_segment");
  backend_->load_scratch(network_, state);
  const DropoutMasks drop = draw_dropout(segment.T, segment.B);
  schedule_update();
  const StepStats s = backend_->segment(network_, optimizer_, segment, StateSlot::scratch,
                                        config_.tbptt_bwd, Pass::update, drop);
  backend_->store_scratch(network_, state);
  return s;
}

StepStats Trainer::train_batch(const Batch& batch) {
  if (!reducer_) return run_batch(batch, nullptr);
  // Data-parallel: the update must wait for the other ranks' gradients (apply_update).
  const SegmentCallback update = [this](const Batch& seg, const StepStats& s) {
    apply_update(s, seg.B);
    return true;
  };
  return run_batch(batch, &update);
}

StepStats Trainer::train_batch(const Batch& batch, const SegmentCallback& on_segment) {
  MELODL_CHECK(static_cast<bool>(on_segment), "[Trainer::train_batch] on_segment is empty");
  return run_batch(batch, &on_segment);
}

StepStats Trainer::run_batch(const Batch& batch, const SegmentCallback* on_segment) {
  check_batch(batch, network_.config(), "Trainer::train_batch");
  backend_->begin_batch(network_, batch.B, config_.reset_state_per_batch);
  StepStats total;
  for_each_segment(batch, segment_length(config_, batch), [&](const Batch& seg) {
    const DropoutMasks drop = draw_dropout(seg.T, seg.B);
    if (!on_segment) schedule_update();
    const StepStats s =
        backend_->segment(network_, optimizer_, seg, StateSlot::carried, config_.tbptt_bwd,
                          on_segment ? Pass::gradients : Pass::update, drop);
    total.loss_sum += s.loss_sum;
    total.count += s.count;
    total.score += s.score;
    total.grad_norm = s.grad_norm;
    total.segments += 1;
    return on_segment ? (*on_segment)(seg, s) : true;
  });
  return total;
}

StepStats Trainer::evaluate(const Batch& batch) {
  check_batch(batch, network_.config(), "Trainer::evaluate");
  backend_->zero_scratch(network_, batch.B);
  StepStats total;
  for_each_segment(batch, segment_length(config_, batch), [&](const Batch& seg) {
    const StepStats s =
        backend_->segment(network_, optimizer_, seg, StateSlot::scratch, 0, Pass::forward, {});
    total.loss_sum += s.loss_sum;
    total.count += s.count;
    total.segments += 1;
    return true;
  });
  total.score = total.loss_sum / batch.B;
  return total;
}

UpdateReport Trainer::apply_update(const StepStats& local, int sequences) {
  MELODL_CHECK(sequences >= (reducer_ ? 0 : 1),
               "[Trainer::apply_update] sequences must be >= " + std::string(reducer_ ? "0" : "1") +
                   ", got " + std::to_string(sequences));
  MELODL_CHECK(backend_->has_gradients(),
               "[Trainer::apply_update] no gradient yet: call compute_gradients first");
  StepStats stats = local;
  if (reducer_) {
    // Every rank sums the same buffers in the same order, so all decisions below (finite,
    // applied) and the update itself come out the same on every rank. The gradient goes
    // through the host mirror; a GPU reducer (NCCL) would sum the device buffer instead.
    reducer_->sum(backend_->mutable_gradients(network_));
    double totals[3] = {stats.loss_sum, stats.count, static_cast<double>(sequences)};
    reducer_->sum(totals);
    stats.loss_sum = totals[0];
    stats.count = totals[1];
    sequences = static_cast<int>(totals[2]);
    MELODL_CHECK(sequences >= 1, "[Trainer::apply_update] no rank had a sequence");
  }
  const bool dl4j = optimizer_.config().kind == OptimizerKind::dl4j_rmsprop;
  UpdateReport r;
  r.loss_sum = stats.loss_sum;
  r.count = stats.count;
  r.sequences = sequences;
  r.finite_loss = std::isfinite(stats.loss_sum);
  const double sumsq = backend_->gradient_sumsq(network_);
  r.finite_gradient = std::isfinite(sumsq);
  // the norm of the gradient the mode uses (Optimizer::apply: the mean for standard modes)
  const double scale = dl4j ? 1.0 : (stats.count > 0 ? 1.0 / stats.count : 0.0);
  r.grad_norm = std::sqrt(sumsq) * scale;
  if (!r.finite_loss || !r.finite_gradient || !(stats.count > 0)) return r;
  schedule_update();
  r.grad_norm = backend_->apply_gradient(network_, optimizer_, stats, sequences, scale, sumsq);
  r.applied = true;
  return r;
}

void Trainer::broadcast_from_root(int root) {
  if (!reducer_) return;
  reducer_->broadcast(network_.params(), root);
  for (auto& slot : optimizer().slots()) reducer_->broadcast(slot, root);
}

bool Trainer::parameters_finite() const { return backend_->parameters_finite(network_); }

}  // namespace melodl::lstm
