// lstm/network.cpp: NetworkConfig, parameter layout, weight init, State, and the
// single-threaded inference paths Network::run / Network::step (Eigen; on "cuda" run()
// dispatches to lstm/cuda/backend.h). See network.h.
#include "lstm/network.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "lstm/cpu/cell.h"
#include "lstm/cuda/backend.h"
#include "lstm/rng.h"

namespace melodl::lstm {

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<RowMat>;
using ConstMatMap = Eigen::Map<const RowMat>;

template <class T>
std::string str(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return "\"" + v + "\"";
  } else {
    return std::to_string(v);
  }
}

}  // namespace

void NetworkConfig::validate() const {
  auto fail = [](const std::string& field, const std::string& what, const std::string& got) {
    throw InvalidArgument("[NetworkConfig::validate] " + field + " " + what + ", got " + got);
  };
  if (vocab < 2) fail("vocab", "must be >= 2", str(vocab));
  if (layers < 1 || layers > 64) fail("layers", "must be in [1, 64]", str(layers));
  if (hidden < 1 || hidden > 65536) fail("hidden", "must be in [1, 65536]", str(hidden));
  if (!std::isfinite(forget_bias_init))
    fail("forget_bias_init", "must be finite", str(forget_bias_init));
}

bool NetworkConfig::same_shape(const NetworkConfig& o) const {
  return vocab == o.vocab && layers == o.layers && hidden == o.hidden && peepholes == o.peepholes;
}

// The checkpoint's "lstm.network_config" object (docs/checkpoints.md). nlohmann's json keeps
// keys sorted, so the text does not depend on the order below. Fields missing from older
// checkpoints take the struct's defaults; the shape fields are required (kRequired).
// Older checkpoints also hold threads, device and cuda_*: execution choices of the run that
// wrote them, not part of the model (ExecutionOptions), so from_json passes over them.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NetworkConfig, vocab, layers, hidden, peepholes,
                                                forget_bias_init, seed)

namespace {
constexpr const char* kRequired[] = {"vocab",     "layers",           "hidden",
                                     "peepholes", "forget_bias_init", "seed"};
}  // namespace

std::string NetworkConfig::to_json() const { return nlohmann::json(*this).dump(); }

NetworkConfig NetworkConfig::from_json(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    for (const char* key : kRequired) (void)j.at(key);  // throws out_of_range naming the key
    return j.get<NetworkConfig>();
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(std::string("[NetworkConfig::from_json] bad network config JSON: ") +
                          e.what());
  }
}

std::size_t ParamTensor::size() const {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

ParamLayout ParamLayout::for_config(const NetworkConfig& config) {
  ParamLayout L;
  std::size_t off = 0;
  auto add = [&](std::string name, std::vector<std::int64_t> shape, bool weight) {
    ParamTensor t{std::move(name), off, std::move(shape), weight};
    off += t.size();
    L.tensors.push_back(t);
    return t.offset;
  };
  const std::int64_t H = config.hidden, G = 4 * H, V = config.vocab;
  for (int l = 0; l < config.layers; ++l) {
    LayerLayout ly;
    ly.input = l == 0 ? config.vocab : config.hidden;
    ly.hidden = config.hidden;
    ly.peepholes = config.peepholes;
    const std::string pre = "layer" + std::to_string(l) + ".";
    ly.W = add(pre + "W", {ly.input, G}, true);
    ly.R = add(pre + "R", {H, G}, true);
    ly.b = add(pre + "b", {G}, false);
    if (config.peepholes) ly.p = add(pre + "p", {3, H}, true);
    L.layers.push_back(ly);
  }
  L.Wy = add("out.W", {H, V}, true);
  L.by = add("out.b", {V}, false);
  L.total = off;
  return L;
}

State State::zeros(const NetworkConfig& config, int batch) {
  MELODL_CHECK(batch >= 1, "[State::zeros] batch must be >= 1, got " + std::to_string(batch));
  State s;
  s.batch = batch;
  for (int l = 0; l < config.layers; ++l) {
    s.h.emplace_back(static_cast<std::size_t>(batch) * config.hidden, 0.0f);
    s.c.emplace_back(static_cast<std::size_t>(batch) * config.hidden, 0.0f);
  }
  return s;
}

void State::reset_rows(std::span<const int> rows) {
  for (int r : rows) {
    MELODL_CHECK(r >= 0 && r < batch, "[State::reset_rows] row " + std::to_string(r) +
                                          " out of range [0," + std::to_string(batch) + ")");
    for (std::size_t l = 0; l < h.size(); ++l) {
      const std::size_t H = h[l].size() / batch;
      std::fill_n(h[l].begin() + r * H, H, 0.0f);
      std::fill_n(c[l].begin() + r * H, H, 0.0f);
    }
  }
}

void check_cpu_support() {
#if defined(__x86_64__) && defined(__AVX2__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    throw InvalidArgument(
        "[melodl::lstm] this CPU lacks AVX2/FMA; the CPU backend was built for x86-64-v3");
  }
#endif
#if defined(__x86_64__) && defined(__AVX512F__)
  // (__builtin_cpu_supports takes string literals only)
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512cd") || !__builtin_cpu_supports("avx512dq") ||
      !__builtin_cpu_supports("avx512vl"))
    throw InvalidArgument(
        "[melodl::lstm] this CPU lacks AVX-512 (F/BW/CD/DQ/VL); the CPU backend was built for "
        "x86-64-v4 (the build machine has it): rebuild with -DMELODL_LSTM_ARCH=x86-64-v3");
#endif
}

Network::Network(const NetworkConfig& config, const ExecutionOptions& execution)
    : config_(config), execution_(execution) {
  config_.validate();
  execution_.validate();
  check_cpu_support();
  layout_ = ParamLayout::for_config(config_);
  params_.assign(layout_.total, 0.0f);
  Rng rng(config_.seed);
  auto fill = [&](std::size_t off, std::size_t n, double fan_in, double fan_out) {
    const double std = std::sqrt(2.0 / (fan_in + fan_out));
    for (std::size_t k = 0; k < n; ++k) params_[off + k] = static_cast<float>(rng.normal() * std);
  };
  const std::size_t H = config_.hidden, G = 4 * H;
  for (const auto& ly : layout_.layers) {
    fill(ly.W, ly.input * G, static_cast<double>(H), static_cast<double>(ly.input + H));
    fill(ly.R, H * G, static_cast<double>(H), static_cast<double>(ly.input + H));
    if (ly.peepholes) fill(ly.p, 3 * H, static_cast<double>(H), static_cast<double>(ly.input + H));
    std::fill_n(params_.begin() + ly.b + H, H, config_.forget_bias_init);
  }
  fill(layout_.Wy, H * config_.vocab, static_cast<double>(H), static_cast<double>(config_.vocab));
  if (cudabk::use_cuda(execution_.device)) {
    device_ = std::make_unique<DeviceCopy>(config_, execution_, layout_);
    device_->net.upload_params(params_.data());
  }
}

Network::Network(const NetworkConfig& config, std::vector<float> params,
                 const ExecutionOptions& execution)
    : config_(config), execution_(execution) {
  config_.validate();
  execution_.validate();
  check_cpu_support();
  layout_ = ParamLayout::for_config(config_);
  MELODL_CHECK(params.size() == layout_.total,
               "[Network] params must hold " + std::to_string(layout_.total) +
                   " floats for this config, got " + std::to_string(params.size()));
  params_.assign(params.begin(), params.end());
  if (cudabk::use_cuda(execution_.device)) {
    device_ = std::make_unique<DeviceCopy>(config_, execution_, layout_);
    device_->net.upload_params(params_.data());
  }
}

Network::~Network() = default;
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;

void Network::sync_host() const {
  if (device_ && device_->host_stale) {
    device_->net.download_params(params_.data());
    device_->host_stale = false;
  }
}

cudabk::DeviceNet* Network::device_net() const {
  if (!device_) return nullptr;
  if (device_->device_stale) {
    device_->net.upload_params(params_.data());
    device_->device_stale = false;
  }
  return &device_->net;
}

std::span<float> Network::params() {
  if (device_) {
    sync_host();
    device_->device_stale = true;  // the caller may write: upload before the next device use
  }
  return params_;
}

std::span<const float> Network::params() const {
  sync_host();
  return params_;
}

void Network::step(std::span<const std::int32_t> symbols, State& state,
                   std::span<float> logits) const {
  run(symbols, 1, state, logits);
}

void Network::run(std::span<const std::int32_t> symbols, int T, State& state,
                  std::span<float> logits) const {
  const int B = state.batch, H = config_.hidden, G = 4 * H, V = config_.vocab;
  MELODL_CHECK(T >= 1, "[Network::run] T must be >= 1, got " + std::to_string(T));
  MELODL_CHECK(B >= 1 && static_cast<int>(state.h.size()) == config_.layers &&
                   state.h[0].size() == static_cast<std::size_t>(B) * H,
               "[Network::run] state must hold " + std::to_string(config_.layers) +
                   " layers of [B,H] with H=" + std::to_string(H));
  MELODL_CHECK(symbols.size() == static_cast<std::size_t>(T) * B,
               "[Network::run] symbols must be [T,B]=[" + std::to_string(T) + "," +
                   std::to_string(B) + "], got " + std::to_string(symbols.size()) + " values");
  MELODL_CHECK(logits.size() == static_cast<std::size_t>(T) * B * V,
               "[Network::run] logits must be [T,B,V] with V=" + std::to_string(V) + ", got " +
                   std::to_string(logits.size()) + " values");
  for (auto s : symbols)
    MELODL_CHECK(s >= 0 && s < V, "[Network::run] symbol " + std::to_string(s) +
                                      " out of range [0," + std::to_string(V) + ")");
  for (int l = 0; l < config_.layers; ++l)
    MELODL_CHECK(state.h[l].size() == static_cast<std::size_t>(B) * H &&
                     state.c[l].size() == static_cast<std::size_t>(B) * H,
                 "[Network::run] state h and c of layer " + std::to_string(l) + " must be [B,H]");
  if (device_) {
    device_net()->run(symbols, T, state, logits);
    return;
  }
  const float* P = params_.data();
  RowMat z(B, G);
  RowMat x(B, H);
  for (int t = 0; t < T; ++t) {
    for (int l = 0; l < config_.layers; ++l) {
      const auto& ly = layout_.layers[l];
      ConstMatMap R(P + ly.R, H, G);
      const Eigen::Map<const Eigen::RowVectorXf> b(P + ly.b, G);
      MatMap h(state.h[l].data(), B, H);
      MatMap c(state.c[l].data(), B, H);
      if (l == 0) {
        for (int r = 0; r < B; ++r)
          z.row(r) = Eigen::Map<const Eigen::RowVectorXf>(P + ly.W + symbols[t * B + r] * G, G) + b;
      } else {
        z.noalias() = x * ConstMatMap(P + ly.W, H, G);
        z.rowwise() += b;
      }
      z.noalias() += h * R;
      const float* p = ly.peepholes ? P + ly.p : nullptr;
      for (int r = 0; r < B; ++r) {
        cpu::cell_forward(z.row(r).data(), c.row(r).data(), c.row(r).data(), h.row(r).data(),
                          nullptr, p, H, 0, H);
      }
      x = h;
    }
    MatMap out(logits.data() + static_cast<std::size_t>(t) * B * V, B, V);
    out.noalias() = x * ConstMatMap(P + layout_.Wy, H, V);
    out.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(P + layout_.by, V);
  }
}

void Network::run_layer(int layer, int T, int B, std::span<const float> x,
                        std::span<const std::int32_t> symbols, std::span<float> h,
                        std::span<float> c, std::span<float> y) const {
  const std::string w = "[Network::run_layer] ";
  MELODL_CHECK(layer >= 0 && layer < config_.layers, w + "layer " + std::to_string(layer) +
                                                         " out of range [0," +
                                                         std::to_string(config_.layers) + ")");
  MELODL_CHECK(T >= 1 && B >= 1,
               w + "T and B must be >= 1, got T=" + std::to_string(T) + " B=" + std::to_string(B));
  const int H = config_.hidden, G = 4 * H, V = config_.vocab;
  const std::size_t TB = static_cast<std::size_t>(T) * B;
  if (layer == 0) {
    MELODL_CHECK(symbols.size() == TB && x.empty(),
                 w + "layer 0 takes symbols [T,B] (" + std::to_string(TB) + " values) and no x");
    for (auto s : symbols)
      MELODL_CHECK(s >= 0 && s < V, w + "symbol " + std::to_string(s) + " out of range [0," +
                                        std::to_string(V) + ")");
  } else {
    MELODL_CHECK(x.size() == TB * H && symbols.empty(),
                 w + "layers above 0 take x [T,B,H] (" + std::to_string(TB * H) +
                     " values) and no symbols, got " + std::to_string(x.size()));
  }
  MELODL_CHECK(
      h.size() == static_cast<std::size_t>(B) * H && c.size() == static_cast<std::size_t>(B) * H,
      w + "h and c must be [B,H]=[" + std::to_string(B) + "," + std::to_string(H) + "]");
  MELODL_CHECK(y.size() == TB * H, w + "y must be [T,B,H] (" + std::to_string(TB * H) +
                                       " values), got " + std::to_string(y.size()));
  const auto& ly = layout_.layers[layer];
  sync_host();
  const float* P = params_.data();
  const Eigen::Map<const Eigen::RowVectorXf> b(P + ly.b, G);
  RowMat z(static_cast<Eigen::Index>(TB), G);
  if (layer == 0) {
    for (std::size_t r = 0; r < TB; ++r)
      z.row(r) = Eigen::Map<const Eigen::RowVectorXf>(P + ly.W + symbols[r] * G, G) + b;
  } else {
    z.noalias() = ConstMatMap(x.data(), TB, H) * ConstMatMap(P + ly.W, H, G);
    z.rowwise() += b;
  }
  ConstMatMap R(P + ly.R, H, G);
  const float* p = ly.peepholes ? P + ly.p : nullptr;
  MatMap hs(h.data(), B, H), cs(c.data(), B, H);
  for (int t = 0; t < T; ++t) {
    auto zt = z.middleRows(static_cast<Eigen::Index>(t) * B, B);
    zt.noalias() += hs * R;
    for (int r = 0; r < B; ++r)
      cpu::cell_forward(zt.row(r).data(), cs.row(r).data(), cs.row(r).data(), hs.row(r).data(),
                        nullptr, p, H, 0, H);
    std::copy(h.begin(), h.end(), y.begin() + static_cast<std::size_t>(t) * B * H);
  }
}

void Network::output_layer(std::span<const float> y, std::span<float> logits) const {
  const int H = config_.hidden, V = config_.vocab;
  MELODL_CHECK(y.size() % H == 0 && logits.size() == y.size() / H * V,
               "[Network::output_layer] y must be [N,H] and logits [N,V] with H=" +
                   std::to_string(H) + " V=" + std::to_string(V));
  const Eigen::Index n = static_cast<Eigen::Index>(y.size() / H);
  sync_host();
  MatMap out(logits.data(), n, V);
  out.noalias() = ConstMatMap(y.data(), n, H) * ConstMatMap(params_.data() + layout_.Wy, H, V);
  out.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(params_.data() + layout_.by, V);
}

}  // namespace melodl::lstm
