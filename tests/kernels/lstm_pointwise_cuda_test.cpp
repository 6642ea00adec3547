// tests/kernels/lstm_pointwise_cuda_test.cpp: the fused pointwise kernels against
// ref::lstm_pointwise_*<double> on the same (float-rounded) inputs; odd and multi-block
// sizes, peepholes on/off, training on/off, gates aliasing z, bitwise determinism.
// Tolerances: style.md 2.6 fp32 forward pair (atol 1e-5, rtol 1e-4) for one step.
// Skips without a CUDA device.
#include <gtest/gtest.h>

#include <sstream>
#include <tuple>

#include "kernels/lstm_pointwise.h"
#include "tests/kernels/cuda_test_util.h"

namespace melodl {
namespace {

using test::as_float;
using test::cast;
using test::expect_allclose;
using test::to_device;
using test::uniform;

constexpr double kAtol = 1e-5, kRtol = 1e-4;

struct Inputs {
  int B, H;
  std::vector<double> z, b, p, c_prev, dh, dc_next, dh_add;
  Inputs(int B_, int H_) : B(B_), H(H_) {
    const size_t BH = size_t(B) * H;
    z = as_float(uniform(BH * 4, 21));
    b = as_float(uniform(size_t(4) * H, 22, -0.5, 0.5));
    p = as_float(uniform(size_t(3) * H, 23, -0.5, 0.5));
    c_prev = as_float(uniform(BH, 24, -2, 2));
    dh = as_float(uniform(BH, 25));
    dc_next = as_float(uniform(BH, 26));
    dh_add = as_float(uniform(BH, 27));
  }
};

// One (B, H, peephole) case: CUDA forward + backward twice vs the double reference. With
// split, the backward's dL/dh comes in two parts (dh + dh_add, as the layer backward passes
// it).
void check_pointwise(int B, int H, bool peep, bool split = false) {
  SCOPED_TRACE(testing::Message() << "B=" << B << " H=" << H << " peephole=" << peep
                                  << " split dh=" << split);
  const Inputs in(B, H);
  const size_t BH = size_t(B) * H, BG = BH * 4;
  // Reference, double.
  std::vector<double> c(BH), h(BH), gates(BG), dz(BG), dc_prev(BH), dp(BH * 3);
  {
    PointwiseFwdArgsT<double> a;
    a.B = B;
    a.H = H;
    a.peephole = peep;
    a.z = in.z.data();
    a.b = in.b.data();
    a.p = in.p.data();
    a.c_prev = in.c_prev.data();
    a.c = c.data();
    a.h = h.data();
    a.gates = gates.data();
    ref::lstm_pointwise_fwd(a);
    PointwiseBwdArgsT<double> g;
    g.B = B;
    g.H = H;
    g.peephole = peep;
    g.dh = in.dh.data();
    g.dh_add = split ? in.dh_add.data() : nullptr;
    g.dc_next = in.dc_next.data();
    g.gates = gates.data();
    g.c_prev = in.c_prev.data();
    g.c = c.data();
    g.p = in.p.data();
    g.dz = dz.data();
    g.dc_prev = dc_prev.data();
    g.dp_partial = dp.data();
    ref::lstm_pointwise_bwd(g);
  }
  // CUDA, float; run twice for determinism.
  cuda::DeviceContext dc;
  auto d_z = to_device(cast<float>(in.z)), d_b = to_device(cast<float>(in.b)),
       d_p = to_device(cast<float>(in.p)), d_cp = to_device(cast<float>(in.c_prev)),
       d_dh = to_device(cast<float>(in.dh)), d_dcn = to_device(cast<float>(in.dc_next)),
       d_dha = to_device(cast<float>(in.dh_add));
  cuda::DeviceBuffer<float> d_c(BH), d_h(BH), d_g(BG), d_dz(BG), d_dcp(BH), d_dp(BH * 3);
  std::vector<std::vector<float>> runs[2];
  for (int r = 0; r < 2; ++r) {
    PointwiseFwdArgs a;
    a.B = B;
    a.H = H;
    a.peephole = peep;
    a.z = d_z.get();
    a.b = d_b.get();
    a.p = peep ? d_p.get() : nullptr;
    a.c_prev = d_cp.get();
    a.c = d_c.get();
    a.h = d_h.get();
    a.gates = d_g.get();
    cuda::lstm_pointwise_fwd(a, dc.exec());
    PointwiseBwdArgs g;
    g.B = B;
    g.H = H;
    g.peephole = peep;
    g.dh = d_dh.get();
    g.dh_add = split ? d_dha.get() : nullptr;
    g.dc_next = d_dcn.get();
    g.gates = d_g.get();
    g.c_prev = d_cp.get();
    g.c = d_c.get();
    g.p = peep ? d_p.get() : nullptr;
    g.dz = d_dz.get();
    g.dc_prev = d_dcp.get();
    g.dp_partial = peep ? d_dp.get() : nullptr;
    cuda::lstm_pointwise_bwd(g, dc.exec());
    dc.synchronize();
    runs[r] = {d_c.download(), d_h.download(), d_g.download(), d_dz.download(), d_dcp.download()};
    if (peep) runs[r].push_back(d_dp.download());
  }
  const std::vector<int64_t> bh{B, H}, bg{B, 4 * H};
  expect_allclose(runs[0][0], c, kAtol, kRtol, "c", bh);
  expect_allclose(runs[0][1], h, kAtol, kRtol, "h", bh);
  expect_allclose(runs[0][2], gates, kAtol, kRtol, "gates", bg);
  expect_allclose(runs[0][3], dz, kAtol, kRtol, "dz", bg);
  expect_allclose(runs[0][4], dc_prev, kAtol, kRtol, "dc_prev", bh);
  if (peep) expect_allclose(runs[0][5], dp, kAtol, kRtol, "dp_partial", {B, 3 * H});
  EXPECT_GT(test::norm2(runs[0][1]), 0.0);
  EXPECT_GT(test::norm2(runs[0][3]), 0.0);
  for (size_t k = 0; k < runs[0].size(); ++k) EXPECT_EQ(runs[0][k], runs[1][k]) << "output " << k;
}

// Shapes are looped inside one test per flag: every ctest entry is a process that pays the
// CUDA start-up, so fewer, larger tests keep the suite fast.
class PointwiseCuda : public test::CudaParamTest<bool> {};

TEST_P(PointwiseCuda, ForwardAndBackwardMatchReference) {
  for (int B : {1, 7, 64})
    for (int H : {1, 3, 33, 257, 1024}) check_pointwise(B, H, GetParam());
  for (int B : {1, 7})
    for (int H : {3, 257}) check_pointwise(B, H, GetParam(), /*split=*/true);
}

INSTANTIATE_TEST_SUITE_P(Peephole, PointwiseCuda, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "peep" : "nopeep"; });

class PointwiseCudaMisc : public test::CudaTest {};

TEST_F(PointwiseCudaMisc, InferenceWritesNoGatesAndGatesMayAliasZ) {
  const int B = 7, H = 33;
  const Inputs in(B, H);
  const size_t BH = size_t(B) * H;
  cuda::DeviceContext dc;
  auto d_z = to_device(cast<float>(in.z)), d_b = to_device(cast<float>(in.b)),
       d_p = to_device(cast<float>(in.p)), d_cp = to_device(cast<float>(in.c_prev));
  cuda::DeviceBuffer<float> d_c(BH), d_h(BH), d_g(BH * 4);
  PointwiseFwdArgs a;
  a.B = B;
  a.H = H;
  a.z = d_z.get();
  a.b = d_b.get();
  a.p = d_p.get();
  a.c_prev = d_cp.get();
  a.c = d_c.get();
  a.h = d_h.get();
  a.gates = d_g.get();
  cuda::lstm_pointwise_fwd(a, dc.exec());
  dc.synchronize();
  const auto gates = d_g.download(), h_train = d_h.download();
  // inference: same h, gates untouched
  const std::vector<float> sentinel(BH * 4, 7.f);
  d_g.upload(sentinel);
  a.training = false;
  cuda::lstm_pointwise_fwd(a, dc.exec());
  dc.synchronize();
  EXPECT_EQ(d_h.download(), h_train);
  EXPECT_EQ(d_g.download(), sentinel);
  // training with gates == z (in place)
  a.training = true;
  a.gates = d_z.get();
  cuda::lstm_pointwise_fwd(a, dc.exec());
  dc.synchronize();
  EXPECT_EQ(d_z.download(), gates);
  EXPECT_EQ(d_h.download(), h_train);
}

}  // namespace
}  // namespace melodl
