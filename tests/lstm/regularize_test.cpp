// tests/lstm/regularize_test.cpp: issue 15's regularisation and schedule in the library:
// dropout (CPU backend against the double reference with the trainer's masks; off at
// evaluation; masks' values and variational sharing), decoupled weight decay and weight
// averaging against hand-computed steps, the learning-rate schedule's values at given
// steps, reduce-on-plateau after `patience` bad reports, the schedule reaching the updates, the new
// TrainConfig fields' JSON (old JSON reads with them off) and validation, and a bitwise resume with
// dropout, weight averaging and a schedule on.
// Run: ctest --test-dir build -R 'Dropout|WeightDecay|WeightAveraging|Schedule|Regularize'
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "lstm/checkpoint.h"
#include "lstm/ref.h"
#include "lstm_test_util.h"

namespace melodl::lstm {
namespace {

namespace fs = std::filesystem;

std::vector<float> params_of(const Trainer& t) {
  return {t.network().params().begin(), t.network().params().end()};
}

// ---- dropout -------------------------------------------------------------------------------

struct DropCase {
  int layers, H, V, T, B, threads, bwd;
  float output, recurrent;
  bool variational, mask;
};

class DropoutVsRef : public ::testing::TestWithParam<DropCase> {};

// compute_gradients with dropout equals the reference run with the masks the trainer draws
// (the same Rng state drawn again here).
TEST_P(DropoutVsRef, GradientsMatchReferenceWithTheTrainersMasks) {
  const DropCase c = GetParam();
  Network net(test::small_config(c.V, c.layers, c.H, true), test::on_cpu(c.threads));
  test::randomize(net, 21);
  const ParamLayout L = net.layout();
  std::vector<double> P(net.params().begin(), net.params().end());
  const auto seg = test::random_batch(c.T, c.B, c.V, 31, c.mask);
  TrainConfig tc;
  tc.dropout.output = c.output;
  tc.dropout.recurrent = c.recurrent;
  tc.dropout.variational = c.variational;
  Trainer trainer(std::move(net), tc);

  Rng rng = trainer.rng();
  std::vector<float> masks;
  const std::size_t n_out = draw_dropout_masks(tc.dropout, c.layers, c.H, c.T, c.B, rng, masks);
  const std::span<const float> all(masks);
  auto rs = ref::RefState<double>::zeros(L, c.B);
  std::vector<double> ref_grad;
  const double ref_loss =
      ref::segment<double>(L, P, seg.inputs, seg.targets, seg.mask, c.T, c.B, rs, c.bwd, &ref_grad,
                           nullptr, all.first(n_out), all.subspan(n_out));

  State s = trainer.network().zero_state(c.B);
  const StepStats st = trainer.compute_gradients(seg.view(), s, c.bwd);
  EXPECT_EQ(trainer.rng().state(), rng.state()) << "the trainer drew other masks";
  EXPECT_NEAR(st.loss_sum, ref_loss, 1e-5 * std::abs(ref_loss));
  for (int l = 0; l < c.layers; ++l) {
    EXPECT_TRUE(test::allclose(s.h[l], rs.h[l], 1e-5, 1e-4)) << "h of layer " << l;
    EXPECT_TRUE(test::allclose(s.c[l], rs.c[l], 1e-5, 1e-4)) << "c of layer " << l;
  }
  test::expect_tensors_close(L, trainer.gradients(), ref_grad, 1e-4, 1e-3);
  // and the masks made a difference: the reference without them differs
  auto r0 = ref::RefState<double>::zeros(L, c.B);
  const double plain = ref::segment<double>(L, P, seg.inputs, seg.targets, seg.mask, c.T, c.B, r0);
  EXPECT_GT(std::abs(plain - ref_loss), 1e-6 * std::abs(plain));
}

INSTANTIATE_TEST_SUITE_P(Shapes, DropoutVsRef,
                         ::testing::Values(DropCase{1, 8, 5, 4, 3, 1, 0, 0.3f, 0.0f, false, false},
                                           DropCase{2, 16, 7, 6, 3, 2, 0, 0.5f, 0.0f, false, true},
                                           DropCase{3, 17, 9, 9, 4, 2, 4, 0.2f, 0.0f, true, false},
                                           DropCase{2, 33, 11, 7, 5, 3, 0, 0.0f, 0.25f, false,
                                                    false},
                                           DropCase{2, 24, 6, 8, 2, 2, 5, 0.3f, 0.3f, true, true}));

TEST(Dropout, MasksAreInvertedAndVariationalMasksRepeatOverTime) {
  DropoutConfig d;
  d.output = 0.25f;
  d.recurrent = 0.5f;
  Rng rng(3);
  std::vector<float> m;
  const int L = 2, H = 40, T = 30, B = 5;
  const std::size_t n_out = draw_dropout_masks(d, L, H, T, B, rng, m);
  ASSERT_EQ(n_out, static_cast<std::size_t>(L) * T * B * H);
  ASSERT_EQ(m.size(), n_out + static_cast<std::size_t>(L) * B * H);
  double kept_out = 0, kept_rec = 0;
  for (std::size_t k = 0; k < m.size(); ++k) {
    const float keep = k < n_out ? 1.0f / 0.75f : 2.0f;
    ASSERT_TRUE(m[k] == 0.0f || m[k] == keep) << k << ": " << m[k];
    (k < n_out ? kept_out : kept_rec) += m[k] != 0.0f;
  }
  EXPECT_NEAR(kept_out / n_out, 0.75, 0.02);
  EXPECT_NEAR(kept_rec / (m.size() - n_out), 0.5, 0.08);
  // per-step masks differ between steps; variational ones are the same at every step
  const std::size_t bh = static_cast<std::size_t>(B) * H;
  EXPECT_FALSE(std::equal(m.begin(), m.begin() + bh, m.begin() + bh));
  d.variational = true;
  draw_dropout_masks(d, L, H, T, B, rng, m);
  for (int l = 0; l < L; ++l)
    for (int t = 1; t < T; ++t)
      ASSERT_TRUE(std::equal(m.begin() + (l * T) * bh, m.begin() + (l * T + 1) * bh,
                             m.begin() + (l * T + t) * bh))
          << "layer " << l << " step " << t;
}

Trainer dropout_trainer(float p, int threads = 1) {
  TrainConfig tc;
  tc.optimizer.lr = 0.01f;
  tc.tbptt_fwd = 5;
  tc.tbptt_bwd = 5;
  tc.dropout.output = p;
  return Trainer(Network(test::small_config(9, 2, 12, true), test::on_cpu(threads)), tc);
}

TEST(Dropout, OffAtEvaluationAndChangesTraining) {
  Trainer drop = dropout_trainer(0.5f), plain = dropout_trainer(0.0f);
  const auto b = test::random_batch(15, 4, 9, 7);
  const std::string rng_before = drop.rng().state();
  const StepStats e1 = drop.evaluate(b.view()), e2 = plain.evaluate(b.view());
  EXPECT_EQ(e1.loss_sum, e2.loss_sum) << "evaluate must not drop anything";
  EXPECT_EQ(drop.rng().state(), rng_before) << "evaluate must not draw masks";
  drop.train_batch(b.view());
  plain.train_batch(b.view());
  EXPECT_NE(params_of(drop), params_of(plain));
  EXPECT_NE(drop.rng().state(), rng_before);
}

TEST(Dropout, SameSeedIsBitwiseDeterministic) {
  for (int threads : {1, 3}) {
    Trainer a = dropout_trainer(0.3f, threads), b = dropout_trainer(0.3f, threads);
    for (int k = 0; k < 3; ++k) {
      const auto batch = test::random_batch(15, 4, 9, 40 + k);
      a.train_batch(batch.view());
      b.train_batch(batch.view());
    }
    EXPECT_EQ(params_of(a), params_of(b)) << threads << " threads";
  }
}

// ---- weight decay --------------------------------------------------------------------------

TEST(WeightDecay, AdamWStepMatchesHandComputation) {
  OptimizerConfig c;
  c.kind = OptimizerKind::adam;
  c.lr = 0.1f;
  c.weight_decay = 0.01f;
  Optimizer opt(c, 2);
  std::vector<float> w = {0.5f, 0.2f}, g = {0.8f, -0.4f};  // summed over count 2
  const std::vector<std::uint8_t> mask = {1, 0};           // a weight and a bias
  opt.apply(w, g, mask, 2.0, 1);
  // weight: decayed 0.5*(1 - 0.1*0.01) = 0.4995; mean g 0.4 -> mhat 0.4, vhat 0.16:
  // step 0.1*0.4/(0.4+1e-8); bias: no decay, g -0.2 -> +0.1
  EXPECT_NEAR(w[0], 0.4995 - 0.1 * 0.4 / (0.4 + 1e-8), 1e-6);
  EXPECT_NEAR(w[1], 0.3, 1e-6);
  // the moments see the plain gradient (decoupled, unlike l2)
  EXPECT_NEAR(opt.slots()[0][0], 0.04, 1e-7);
  EXPECT_NEAR(opt.slots()[1][0], 0.00016, 1e-8);  // (1 - beta2) is rounded in float
}

TEST(WeightDecay, SgdAndOffEqualsPlain) {
  OptimizerConfig c;
  c.kind = OptimizerKind::sgd;
  c.momentum = 0;
  c.lr = 0.5f;
  c.weight_decay = 0.2f;
  Optimizer opt(c, 1);
  std::vector<float> w = {2.0f}, g = {1.0f};
  const std::vector<std::uint8_t> mask = {1};
  opt.apply(w, g, mask, 1.0, 1);
  EXPECT_FLOAT_EQ(w[0], 2.0f * 0.9f - 0.5f);
  c.weight_decay = 0;
  Optimizer off(c, 1);
  std::vector<float> w2 = {2.0f}, g2 = {1.0f};
  off.apply(w2, g2, mask, 1.0, 1);
  EXPECT_FLOAT_EQ(w2[0], 1.5f);
}

// ---- weight averaging ----------------------------------------------------------------------

// a = d*a + (1-d)*w after each update, d = min(average, t/(t+9)), the first update copying w;
// an extra optimiser slot "average" (none when off).
TEST(WeightAveraging, FollowsTheUpdatesByHand) {
  OptimizerConfig c;
  c.kind = OptimizerKind::sgd;
  c.momentum = 0;
  c.lr = 1.0f;
  c.average = 0.5f;
  Optimizer opt(c, 1);
  ASSERT_EQ(opt.slot_names(), (std::vector<std::string>{"velocity", "average"}));
  ASSERT_EQ(opt.slots().size(), 2u);
  const std::vector<std::uint8_t> mask = {1};
  std::vector<float> w = {2.0f};
  const auto step = [&] {
    std::vector<float> g = {1.0f};
    opt.apply(w, g, mask, 1.0, 1);
    return opt.averaged()[0];
  };
  EXPECT_FLOAT_EQ(step(), 1.0f);  // w = 1: copied
  double a = 1.0;
  a += (1 - 2.0 / 11) * (0.0 - a);  // t = 2: d = 2/11, w = 0
  EXPECT_NEAR(step(), a, 1e-6);
  a += (1 - 3.0 / 12) * (-1.0 - a);  // t = 3: d = 0.25, w = -1
  EXPECT_NEAR(step(), a, 1e-6);
  for (int t = 4; t <= 12; ++t) {  // d = min(0.5, t/(t+9)): 0.5 from t = 9 on
    const double d = std::min(0.5, t / (t + 9.0));
    a += (1 - d) * ((2.0 - t) - a);
    EXPECT_NEAR(step(), a, 1e-5) << "update " << t;
  }
  EXPECT_FLOAT_EQ(w[0], -10.0f) << "the weights themselves are the optimiser's";
  c.average = 0;
  Optimizer off(c, 1);
  EXPECT_EQ(off.slot_names(), std::vector<std::string>{"velocity"});
  EXPECT_TRUE(off.averaged().empty());
}

// ---- schedule ------------------------------------------------------------------------------

TEST(Schedule, WarmupThenConstant) {
  LrScheduleConfig c;
  c.warmup_steps = 4;
  ASSERT_TRUE(c.active());
  const LrSchedule s(c);
  EXPECT_FLOAT_EQ(s.lr_at(0.01f, 0), 0.0025f);
  EXPECT_FLOAT_EQ(s.lr_at(0.01f, 1), 0.005f);
  EXPECT_FLOAT_EQ(s.lr_at(0.01f, 3), 0.01f);
  EXPECT_FLOAT_EQ(s.lr_at(0.01f, 1000), 0.01f);
  EXPECT_FALSE(LrScheduleConfig{}.active());
}

TEST(Schedule, CosineAfterWarmupToTheFloor) {
  LrScheduleConfig c;
  c.kind = LrScheduleKind::cosine;
  c.warmup_steps = 2;
  c.decay_steps = 10;
  c.min_lr = 0.001f;
  const LrSchedule s(c);
  EXPECT_FLOAT_EQ(s.lr_at(0.011f, 0), 0.0055f);
  EXPECT_FLOAT_EQ(s.lr_at(0.011f, 2), 0.011f);
  EXPECT_FLOAT_EQ(s.lr_at(0.011f, 7), 0.006f);
  EXPECT_NEAR(s.lr_at(0.011f, 4), 0.001 + 0.01 * 0.5 * (1 + std::cos(3.14159265358979 * 0.2)),
              1e-8);
  EXPECT_FLOAT_EQ(s.lr_at(0.011f, 12), 0.001f);
  EXPECT_FLOAT_EQ(s.lr_at(0.011f, 500), 0.001f);
}

TEST(Schedule, PlateauReducesAfterPatienceBadReports) {
  LrScheduleConfig c;
  c.kind = LrScheduleKind::plateau;
  c.patience = 2;
  c.factor = 0.5f;
  c.min_lr = 0.002f;
  LrSchedule s(c);
  EXPECT_FALSE(s.report(5.0));  // first: the best
  EXPECT_FALSE(s.report(5.0));  // not better: 1 bad
  EXPECT_FLOAT_EQ(s.lr_at(0.01f, 9), 0.01f);
  EXPECT_TRUE(s.report(6.0));  // 2 bad: reduced
  EXPECT_EQ(s.reductions(), 1);
  EXPECT_FLOAT_EQ(s.lr_at(0.01f, 9), 0.005f);
  EXPECT_FALSE(s.report(4.0));  // improvement resets the count
  EXPECT_FALSE(s.report(4.5));
  EXPECT_TRUE(s.report(std::numeric_limits<double>::quiet_NaN()));  // NaN is not better
  EXPECT_FLOAT_EQ(s.lr_at(0.01f, 9), 0.0025f);
  EXPECT_FALSE(s.report(9));
  EXPECT_TRUE(s.report(9));
  EXPECT_FLOAT_EQ(s.lr_at(0.01f, 9), 0.002f) << "never below min_lr";
  // the state round-trips exactly
  EXPECT_FALSE(s.report(3.25));
  EXPECT_FALSE(s.report(3.5));
  LrSchedule t(c);
  t.set_state_json(s.state_json());
  EXPECT_EQ(t.state_json(), s.state_json());
  EXPECT_EQ(t.best(), 3.25);
  EXPECT_EQ(t.bad_reports(), 1);
  EXPECT_EQ(t.reductions(), 3);
  EXPECT_THROW(t.set_state_json("{\"has_best\":true}"), InvalidArgument);
  // a threshold: smaller improvements count as bad
  c.threshold = 0.1f;
  LrSchedule u(c);
  u.report(5.0);
  EXPECT_FALSE(u.report(4.95));
  EXPECT_TRUE(u.report(4.92));
  // other kinds ignore reports
  LrSchedule none;
  EXPECT_FALSE(none.report(1.0));
  EXPECT_FALSE(none.report(2.0));
}

TEST(Schedule, BaseForGivesTheRequestedRateNowAndKeepsReducingFromIt) {
  LrScheduleConfig c;
  c.kind = LrScheduleKind::plateau;
  c.patience = 1;
  c.factor = 0.5f;
  c.min_lr = 1e-5f;
  LrSchedule s(c);
  s.report(5.0);
  EXPECT_TRUE(s.report(6.0));
  EXPECT_TRUE(s.report(6.0));  // two reductions: x 0.25
  const float base = s.base_for(3e-4f);
  EXPECT_FLOAT_EQ(base, 1.2e-3f);
  EXPECT_FLOAT_EQ(s.lr_at(base, 50), 3e-4f) << "the requested rate, now";
  EXPECT_TRUE(s.report(6.0));
  EXPECT_FLOAT_EQ(s.lr_at(base, 60), 1.5e-4f) << "reduced from it";
  EXPECT_FLOAT_EQ(s.lr_at(s.base_for(1e-6f), 60), 1e-5f) << "still never below min_lr";
  for (int k = 0; k < 300; ++k) s.report(6.0);  // 0.5^301: the base stays finite
  EXPECT_TRUE(std::isfinite(s.base_for(10.0f)));
  // Other kinds: the rate follows from the step; the request is the base.
  LrScheduleConfig cos;
  cos.kind = LrScheduleKind::cosine;
  cos.decay_steps = 100;
  cos.min_lr = 1e-4f;
  EXPECT_FLOAT_EQ(LrSchedule(cos).base_for(3e-3f), 3e-3f);
  EXPECT_FLOAT_EQ(LrSchedule().base_for(3e-3f), 3e-3f);
}

TEST(Schedule, TrainerUpdatesUseTheScheduledRate) {
  // warm-up + cosine through train_segment equals setting the same rates by hand
  TrainConfig tc;
  tc.optimizer.lr = 0.02f;
  tc.schedule.kind = LrScheduleKind::cosine;
  tc.schedule.warmup_steps = 2;
  tc.schedule.decay_steps = 3;
  tc.schedule.min_lr = 0.001f;
  TrainConfig plain = tc;
  plain.schedule = {};
  const NetworkConfig nc = test::small_config(9, 1, 8, true);
  Trainer a(Network(nc, test::on_cpu()), tc), b(Network(nc, test::on_cpu()), plain);
  State sa = a.network().zero_state(3), sb = b.network().zero_state(3);
  for (int k = 0; k < 7; ++k) {
    const auto seg = test::random_batch(5, 3, 9, 60 + k);
    const float lr = LrSchedule(tc.schedule).lr_at(0.02f, k);
    EXPECT_FLOAT_EQ(a.learning_rate(), lr) << "step " << k;
    b.set_learning_rate(lr);
    a.train_segment(seg.view(), sa);
    b.train_segment(seg.view(), sb);
  }
  EXPECT_EQ(params_of(a), params_of(b));
  EXPECT_FLOAT_EQ(a.base_learning_rate(), 0.02f);
  // plateau through the trainer
  tc.schedule = {};
  tc.schedule.kind = LrScheduleKind::plateau;
  tc.schedule.patience = 1;
  tc.schedule.min_lr = 1e-4f;
  Trainer p(Network(nc, test::on_cpu()), tc);
  EXPECT_FALSE(p.report_validation(3.0));
  EXPECT_TRUE(p.report_validation(3.0));
  EXPECT_FLOAT_EQ(p.learning_rate(), 0.01f);
}

// ---- config --------------------------------------------------------------------------------

TEST(Regularize, ConfigJsonRoundTripsAndOldJsonReadsWithEverythingOff) {
  TrainConfig c;
  c.optimizer.weight_decay = 0.01f;
  c.optimizer.average = 0.999f;
  c.dropout.output = 0.3f;
  c.dropout.recurrent = 0.1f;
  c.dropout.variational = true;
  c.schedule.kind = LrScheduleKind::plateau;
  c.schedule.warmup_steps = 100;
  c.schedule.min_lr = 1e-5f;
  c.schedule.patience = 4;
  c.schedule.factor = 0.25f;
  const TrainConfig d = TrainConfig::from_json(c.to_json());
  EXPECT_EQ(d.to_json(), c.to_json());
  EXPECT_EQ(d.dropout.output, 0.3f);
  EXPECT_TRUE(d.dropout.variational);
  EXPECT_EQ(d.schedule.kind, LrScheduleKind::plateau);
  EXPECT_EQ(d.schedule.patience, 4);
  EXPECT_EQ(d.optimizer.weight_decay, 0.01f);
  EXPECT_EQ(d.optimizer.average, 0.999f);
  // JSON written before issue 15: the new fields are off
  const std::string old =
      R"({"optimizer":"adam","lr":0.001,"momentum":0.9,"beta1":0.9,"beta2":0.999,)"
      R"("rms_decay":0.95,"eps":1e-8,"l2":0,"clip_norm":0,"tbptt_fwd":50,"tbptt_bwd":50,)"
      R"("reset_state_per_batch":true,"seed":12345})";
  const TrainConfig o = TrainConfig::from_json(old);
  EXPECT_FALSE(o.dropout.active());
  EXPECT_FALSE(o.schedule.active());
  EXPECT_EQ(o.optimizer.weight_decay, 0.0f);
  EXPECT_EQ(o.optimizer.average, 0.0f);
  EXPECT_THROW(TrainConfig::from_json(
                   R"({"optimizer":"adam","lr":0.001,"momentum":0.9,"beta1":0.9,"beta2":0.999,)"
                   R"("rms_decay":0.95,"eps":1e-8,"l2":0,"clip_norm":0,"tbptt_fwd":50,)"
                   R"("tbptt_bwd":50,"reset_state_per_batch":true,"seed":1,)"
                   R"("schedule":{"kind":"linear"}})"),
               InvalidArgument);
}

void expect_invalid(const TrainConfig& c, const std::string& where, const std::string& field) {
  try {
    c.validate();
    ADD_FAILURE() << field << ": no error";
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(where), std::string::npos) << what;
    EXPECT_NE(what.find(field), std::string::npos) << what;
  }
}

TEST(Regularize, ValidationNamesTheField) {
  TrainConfig c;
  c.dropout.output = 1.0f;
  expect_invalid(c, "[TrainConfig::validate]", "dropout.output");
  c = {};
  c.dropout.recurrent = -0.1f;
  expect_invalid(c, "[TrainConfig::validate]", "dropout.recurrent");
  c = {};
  c.optimizer.weight_decay = -1;
  expect_invalid(c, "[OptimizerConfig::validate]", "weight_decay");
  c = {};
  c.optimizer.average = 1.0f;
  expect_invalid(c, "[OptimizerConfig::validate]", "average");
  c = {};
  c.schedule.warmup_steps = -1;
  expect_invalid(c, "[LrScheduleConfig::validate]", "warmup_steps");
  c = {};
  c.schedule.kind = LrScheduleKind::cosine;
  c.schedule.min_lr = 1e-5f;
  expect_invalid(c, "[LrScheduleConfig::validate]", "decay_steps");
  c.schedule.decay_steps = 10;
  c.schedule.min_lr = 0;
  expect_invalid(c, "[LrScheduleConfig::validate]", "min_lr");
  c.schedule.min_lr = 1.0f;  // above lr
  expect_invalid(c, "[LrScheduleConfig::validate]", "min_lr");
  c.schedule.min_lr = 1e-5f;
  EXPECT_NO_THROW(c.validate());
  c.schedule.kind = LrScheduleKind::plateau;
  c.schedule.factor = 1.0f;
  expect_invalid(c, "[LrScheduleConfig::validate]", "factor");
  c.schedule.factor = 0.5f;
  c.schedule.patience = 0;
  expect_invalid(c, "[LrScheduleConfig::validate]", "patience");
  EXPECT_THROW(Trainer(Network(test::small_config(5, 1, 4, false), test::on_cpu()), c),
               InvalidArgument);
}

// ---- resume --------------------------------------------------------------------------------

fs::path temp_path(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("melodl_lstm_regularize_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

Trainer resume_trainer(LrScheduleKind kind) {
  TrainConfig tc;
  tc.optimizer.lr = 0.01f;
  tc.optimizer.weight_decay = 0.05f;
  tc.optimizer.average = 0.9f;
  tc.tbptt_fwd = 5;
  tc.tbptt_bwd = 5;
  tc.reset_state_per_batch = false;
  tc.dropout.output = 0.3f;
  tc.dropout.recurrent = 0.2f;
  tc.schedule.kind = kind;
  tc.schedule.warmup_steps = 4;
  tc.schedule.decay_steps = 20;
  tc.schedule.min_lr = 0.0005f;
  tc.schedule.patience = 1;
  return Trainer(Network(test::small_config(9, 2, 12, true), test::on_cpu(1)), tc);
}

// Data-parallel dropout: the ranks of a job drop different units (their gradients on the same
// segment differ) while their generators stay equal; one rank of one is one process.
TEST(Regularize, RanksDrawTheirOwnDropoutMasksAndKeepEqualGenerators) {
  const auto b = test::random_batch(10, 4, 9, 77);
  std::vector<std::vector<float>> grads;
  std::vector<std::string> rngs;
  test::ClaimRank r0(0, 2), r1(1, 2), alone(0, 1);
  for (GradientReducer* red :
       {static_cast<GradientReducer*>(nullptr), static_cast<GradientReducer*>(&alone),
        static_cast<GradientReducer*>(&r0), static_cast<GradientReducer*>(&r1)}) {
    Trainer t = resume_trainer(LrScheduleKind::constant);
    t.set_reducer(red);
    State st = t.network().zero_state(b.B);
    t.compute_gradients(b.view(), st);
    grads.emplace_back(t.gradients().begin(), t.gradients().end());
    rngs.push_back(t.rng().state());
  }
  EXPECT_EQ(grads[0], grads[1]) << "one rank of one draws as one process";
  EXPECT_NE(grads[2], grads[3]) << "two ranks draw different masks";
  EXPECT_NE(grads[0], grads[2]);
  EXPECT_EQ(rngs[2], rngs[3]) << "the ranks' generators stay equal";
}

// Mid-run resume with dropout, weight decay, weight averaging and a schedule (warm-up + cosine, and
// plateau with validation reports before and after the save) continues bitwise identically.
TEST(Regularize, ResumeWithDropoutAndScheduleIsBitwiseIdentical) {
  for (auto kind : {LrScheduleKind::cosine, LrScheduleKind::plateau}) {
    Trainer straight = resume_trainer(kind), first = resume_trainer(kind);
    const fs::path p = temp_path("resume.safetensors");
    const double scores[] = {3.0, 2.0, 2.5, 2.6, 1.0, 1.5};
    for (int k = 0; k < 6; ++k) {
      const auto b1 = test::random_batch(15, 4, 9, straight.rng().next_u64());
      straight.train_batch(b1.view());
      straight.report_validation(scores[k]);
      if (k < 3) {
        const auto b2 = test::random_batch(15, 4, 9, first.rng().next_u64());
        first.train_batch(b2.view());
        first.report_validation(scores[k]);
        if (k == 2) save_checkpoint(p, first, "v");
      }
    }
    const LoadedCheckpoint ck = load_checkpoint(p);
    ASSERT_TRUE(ck.train_config.has_value());
    EXPECT_EQ(ck.train_config->to_json(), first.config().to_json());
    EXPECT_EQ(ck.schedule_state.empty(), kind != LrScheduleKind::plateau);
    Trainer resumed = ck.make_trainer(test::on_cpu(1));
    EXPECT_EQ(resumed.schedule().state_json(), first.schedule().state_json());
    EXPECT_EQ(resumed.learning_rate(), first.learning_rate());
    for (int k = 3; k < 6; ++k) {
      const auto b = test::random_batch(15, 4, 9, resumed.rng().next_u64());
      resumed.train_batch(b.view());
      resumed.report_validation(scores[k]);
    }
    EXPECT_EQ(params_of(resumed), params_of(straight)) << to_string(kind);
    EXPECT_EQ(resumed.optimizer().slots(), straight.optimizer().slots());
    ASSERT_EQ(resumed.optimizer().slot_names().back(), "average");
    EXPECT_NE(std::vector<float>(resumed.optimizer().averaged().begin(),
                                 resumed.optimizer().averaged().end()),
              params_of(resumed));
    EXPECT_EQ(resumed.schedule().state_json(), straight.schedule().state_json());
    EXPECT_EQ(resumed.learning_rate(), straight.learning_rate());
    if (kind == LrScheduleKind::plateau) {
      EXPECT_GE(straight.schedule().reductions(), 2);
    }
  }
}

}  // namespace
}  // namespace melodl::lstm
