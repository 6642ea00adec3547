// web/viz_json.cpp: the JSON texts of the live view (listener.h, docs/viz.md "HTTP
// interface"). Each text is a wire struct whose member names are the JSON keys, written by
// nlohmann's type macros; non-finite numbers are null (JSON has no NaN).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

#include "web/listener.h"

namespace melodl::web {
namespace {

// A number, written as null unless finite (and read back as NaN).
struct Num {
  Num(double x = 0) : v(x) {}  // NOLINT(google-explicit-constructor): a number, implicitly
  double v;
};
inline void to_json(nlohmann::json& j, const Num& n) {
  j = std::isfinite(n.v) ? nlohmann::json(n.v) : nlohmann::json();
}
inline void from_json(const nlohmann::json& j, Num& n) {
  n.v = j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// An optional value, written as null when absent.
template <class T>
struct Maybe {
  std::optional<T> v;
};
template <class T>
void to_json(nlohmann::json& j, const Maybe<T>& m) {
  j = m.v ? nlohmann::json(*m.v) : nlohmann::json();
}
template <class T>
void from_json(const nlohmann::json& j, Maybe<T>& m) {
  m.v = j.is_null() ? std::nullopt : std::optional<T>(j.get<T>());
}

struct LayoutArray {
  std::string name;
  std::vector<std::int64_t> shape;
  std::size_t size = 0;
  std::vector<std::size_t> indices;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LayoutArray, name, shape, size, indices)

struct Layout {
  int samples = 0;
  double rate_hz = 0;
  std::vector<LayoutArray> arrays;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Layout, samples, rate_hz, arrays)

struct SnapshotArray {
  std::vector<Num> v, g;
  Num gnorm, ratio;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SnapshotArray, v, g, gnorm, ratio)

struct SnapshotWire {
  std::uint64_t seq = 0;
  std::int64_t step = 0;
  Num loss, lr, t;
  bool paused = false;
  std::vector<SnapshotArray> arrays;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SnapshotWire, seq, step, loss, lr, t, paused, arrays)

using Note = std::tuple<int, double, double>;  // [pitch, start_s, end_s]
struct SamplesWire {
  std::uint64_t seq = 0;
  int epoch = 0;
  Num valid_bits;
  std::vector<std::vector<Note>> melodies;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SamplesWire, seq, epoch, valid_bits, melodies)

struct Status {
  bool paused = false;
  std::int64_t step = 0;
  Num lr, lr_requested;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Status, paused, step, lr, lr_requested)

struct Latest {
  Maybe<SnapshotWire> snapshot;
  Maybe<SamplesWire> samples;
  bool paused = false;
  Num lr_requested;
  std::vector<std::pair<std::int64_t, double>> loss_history;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Latest, snapshot, samples, paused, lr_requested, loss_history)

constexpr double kNone = std::numeric_limits<double>::quiet_NaN();

SnapshotWire of(const Snapshot& s) {
  SnapshotWire w{s.seq, s.step, {s.loss_bits}, {s.lr}, {s.time_s}, s.paused, {}};
  for (const auto& a : s.arrays) {
    SnapshotArray& o = w.arrays.emplace_back();
    o.v.assign(a.values.begin(), a.values.end());
    o.g.assign(a.grads.begin(), a.grads.end());
    o.gnorm = {a.grad_norm};
    o.ratio = {a.update_ratio};
  }
  return w;
}

SamplesWire of(const EpochSamples& s) {
  SamplesWire w{s.seq, s.epoch, {s.valid_bits}, {}};
  for (const auto& m : s.melodies) {
    auto& notes = w.melodies.emplace_back();
    for (const auto& n : m) notes.emplace_back(n.pitch, n.start_s, n.end_s);
  }
  return w;
}

// The loss curve: finite points, losses to 6 significant digits (a page opened late
// fetches up to 2048 of them).
std::vector<std::pair<std::int64_t, double>> rounded(
    const std::vector<std::pair<std::int64_t, double>>& history) {
  std::vector<std::pair<std::int64_t, double>> out;
  char buf[32];
  for (const auto& [step, loss] : history) {
    if (!std::isfinite(loss)) continue;
    std::snprintf(buf, sizeof buf, "%.6g", loss);
    out.emplace_back(step, std::strtod(buf, nullptr));
  }
  return out;
}

}  // namespace

std::string layout_json(const std::vector<ArrayInfo>& arrays, const ListenerOptions& options) {
  Layout w{options.samples, options.rate_hz, {}};
  for (const auto& a : arrays) w.arrays.push_back({a.name, a.shape, a.size, a.indices});
  return nlohmann::json(w).dump();
}

std::string snapshot_json(const Snapshot& s) { return nlohmann::json(of(s)).dump(); }

std::string samples_json(const EpochSamples& s) { return nlohmann::json(of(s)).dump(); }

std::string status_json(const VizListener& l) {
  const Snapshot snap = l.latest();
  const std::optional<double> req = l.requested_lr();
  const Status w{l.paused(), snap.step, {snap.seq ? snap.lr : kNone}, {req.value_or(kNone)}};
  return nlohmann::json(w).dump();
}

std::string latest_json(const VizListener& l) {
  Latest w;
  if (const Snapshot snap = l.latest(); snap.seq) w.snapshot.v = of(snap);
  if (const EpochSamples samples = l.latest_samples(); samples.seq) w.samples.v = of(samples);
  w.paused = l.paused();
  w.lr_requested = {l.requested_lr().value_or(kNone)};
  w.loss_history = rounded(l.loss_history());
  return nlohmann::json(w).dump();
}

}  // namespace melodl::web
