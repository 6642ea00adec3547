// tests/kernels/lstm_pointwise_ref_test.cpp: makes the pointwise reference trustworthy.
// ref::lstm_pointwise_bwd<double> against central finite differences of
// ref::lstm_pointwise_fwd<double> for every input (z, b, c_prev, p), peepholes on and off.
// The scalar loss L = sum(wh*h) + sum(wc*c) gives dh = wh and dc_next = wc.
#include <gtest/gtest.h>

#include <sstream>

#include "kernels/lstm_pointwise.h"
#include "tests/kernels/test_util.h"

namespace melodl {
namespace {

using test::expect_allclose;
using test::numeric_grad;
using test::uniform;

// FD in double with step 1e-5: truncation ~1e-10, rounding ~1e-11 -> 1e-7 absolute is ample.
constexpr double kFdAtol = 1e-7, kFdRtol = 1e-6;

struct Cell {
  int B, H;
  bool peephole;
  std::vector<double> z, b, p, c_prev, wh, wc;
  Cell(int B_, int H_, bool peep)
      : B(B_),
        H(H_),
        peephole(peep),
        z(uniform(size_t(B_) * 4 * H_, 1)),
        b(uniform(size_t(4) * H_, 2)),
        p(uniform(size_t(3) * H_, 3)),
        c_prev(uniform(size_t(B_) * H_, 4, -2, 2)),
        wh(uniform(size_t(B_) * H_, 5)),
        wc(uniform(size_t(B_) * H_, 6)) {}

  void forward(std::vector<double>& c, std::vector<double>& h, std::vector<double>* gates) {
    c.assign(size_t(B) * H, 0);
    h.assign(size_t(B) * H, 0);
    PointwiseFwdArgsT<double> a;
    a.B = B;
    a.H = H;
    a.peephole = peephole;
    a.training = gates != nullptr;
    a.z = z.data();
    a.b = b.data();
    a.p = peephole ? p.data() : nullptr;
    a.c_prev = c_prev.data();
    a.c = c.data();
    a.h = h.data();
    if (gates) {
      gates->assign(size_t(B) * 4 * H, 0);
      a.gates = gates->data();
    }
    ref::lstm_pointwise_fwd(a);
  }
  double loss() {
    std::vector<double> c, h;
    forward(c, h, nullptr);
    double L = 0;
    for (size_t k = 0; k < h.size(); ++k) L += wh[k] * h[k] + wc[k] * c[k];
    return L;
  }
};

class PointwiseRef : public ::testing::TestWithParam<std::tuple<int, int, bool>> {};

TEST_P(PointwiseRef, BackwardMatchesFiniteDifferences) {
  const auto [B, H, peep] = GetParam();
  Cell cell(B, H, peep);
  std::vector<double> c, h, gates;
  cell.forward(c, h, &gates);

  std::vector<double> dz(size_t(B) * 4 * H), dc_prev(size_t(B) * H), dp_part(size_t(B) * 3 * H);
  PointwiseBwdArgsT<double> a;
  a.B = B;
  a.H = H;
  a.peephole = peep;
  a.dh = cell.wh.data();
  a.dc_next = cell.wc.data();
  a.gates = gates.data();
  a.c_prev = cell.c_prev.data();
  a.c = c.data();
  a.p = peep ? cell.p.data() : nullptr;
  a.dz = dz.data();
  a.dc_prev = dc_prev.data();
  a.dp_partial = peep ? dp_part.data() : nullptr;
  ref::lstm_pointwise_bwd(a);

  auto L = [&] { return cell.loss(); };
  expect_allclose(dz, numeric_grad(cell.z, L), kFdAtol, kFdRtol, "dz", {B, 4 * H});
  expect_allclose(dc_prev, numeric_grad(cell.c_prev, L), kFdAtol, kFdRtol, "dc_prev", {B, H});
  // db = sum over the batch of dz
  std::vector<double> db(size_t(4) * H, 0);
  for (int bi = 0; bi < B; ++bi)
    for (int g = 0; g < 4 * H; ++g) db[g] += dz[size_t(bi) * 4 * H + g];
  expect_allclose(db, numeric_grad(cell.b, L), kFdAtol, kFdRtol, "db", {4 * H});
  if (peep) {
    std::vector<double> dp(size_t(3) * H, 0);
    for (int bi = 0; bi < B; ++bi)
      for (int k = 0; k < 3 * H; ++k) dp[k] += dp_part[size_t(bi) * 3 * H + k];
    expect_allclose(dp, numeric_grad(cell.p, L), kFdAtol, kFdRtol, "dp", {3, H});
  }
  EXPECT_GT(test::norm2(dz), 0.0);
  EXPECT_GT(test::norm2(dc_prev), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Shapes, PointwiseRef,
                         ::testing::Values(std::tuple{1, 1, true}, std::tuple{3, 5, true},
                                           std::tuple{2, 4, false}, std::tuple{4, 3, true}),
                         [](const auto& info) {
                           std::ostringstream os;  // not operator+: GCC 12 -Wrestrict bug
                           os << "B" << std::get<0>(info.param) << "_H" << std::get<1>(info.param)
                              << (std::get<2>(info.param) ? "_peep" : "_nopeep");
                           return os.str();
                         });

TEST(PointwiseRef, PeepholesOffEqualsZeroPeepholes) {
  Cell on(3, 4, true), off(3, 4, false);
  std::fill(on.p.begin(), on.p.end(), 0.0);
  std::vector<double> c1, h1, g1, c2, h2, g2;
  on.forward(c1, h1, &g1);
  off.forward(c2, h2, &g2);
  EXPECT_EQ(h1, h2);
  EXPECT_EQ(c1, c2);
  EXPECT_EQ(g1, g2);
}

TEST(PointwiseRef, KnownValues) {
  // B = H = 1, z = 0, b = 0, p = (0.5, 0.5, 0.5), c_prev = 1:
  // i = f = sigmoid(0.5), g = 0, c = f, o = sigmoid(0.5*c), h = o*tanh(c).
  const double z[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0}, p[3] = {0.5, 0.5, 0.5}, cp = 1;
  double c = 0, h = 0, gates[4];
  PointwiseFwdArgsT<double> a;
  a.B = a.H = 1;
  a.z = z;
  a.b = b;
  a.p = p;
  a.c_prev = &cp;
  a.c = &c;
  a.h = &h;
  a.gates = gates;
  ref::lstm_pointwise_fwd(a);
  const double s = 1 / (1 + std::exp(-0.5)), o = 1 / (1 + std::exp(-0.5 * s));
  EXPECT_NEAR(c, s, 1e-15);
  EXPECT_NEAR(h, o * std::tanh(s), 1e-15);
  EXPECT_NEAR(gates[0], s, 1e-15);
  EXPECT_NEAR(gates[2], 0, 1e-15);
  EXPECT_NEAR(gates[3], o, 1e-15);
}

TEST(PointwiseRef, GatesMayAliasZ) {
  Cell cell(2, 3, true);
  std::vector<double> c1, h1, g1;
  cell.forward(c1, h1, &g1);
  std::vector<double> zg = cell.z, c2(c1.size()), h2(h1.size());
  PointwiseFwdArgsT<double> a;
  a.B = 2;
  a.H = 3;
  a.z = zg.data();
  a.b = cell.b.data();
  a.p = cell.p.data();
  a.c_prev = cell.c_prev.data();
  a.c = c2.data();
  a.h = h2.data();
  a.gates = zg.data();
  ref::lstm_pointwise_fwd(a);
  EXPECT_EQ(zg, g1);
  EXPECT_EQ(h2, h1);
}

// dL/dh given in two parts (dh + dh_add, as the CUDA layer backward passes it) equals the
// summed dh: halves are exact in binary, so bitwise.
TEST(PointwiseRef, SplitDhEqualsSummedDh) {
  for (const bool peep : {true, false}) {
    Cell cell(3, 5, peep);
    std::vector<double> c, h, gates;
    cell.forward(c, h, &gates);
    const size_t BH = cell.wh.size();
    std::vector<double> half(BH);
    for (size_t k = 0; k < BH; ++k) half[k] = cell.wh[k] / 2;
    auto backward = [&](const std::vector<double>& dh, const std::vector<double>* dh_add) {
      std::vector<double> dz(BH * 4), dcp(BH), dp(BH * 3);
      PointwiseBwdArgsT<double> g;
      g.B = cell.B;
      g.H = cell.H;
      g.peephole = peep;
      g.dh = dh.data();
      g.dh_add = dh_add ? dh_add->data() : nullptr;
      g.dc_next = cell.wc.data();
      g.gates = gates.data();
      g.c_prev = cell.c_prev.data();
      g.c = c.data();
      g.p = peep ? cell.p.data() : nullptr;
      g.dz = dz.data();
      g.dc_prev = dcp.data();
      g.dp_partial = peep ? dp.data() : nullptr;
      ref::lstm_pointwise_bwd(g);
      dz.insert(dz.end(), dcp.begin(), dcp.end());
      dz.insert(dz.end(), dp.begin(), dp.end());
      return dz;
    };
    const auto whole = backward(cell.wh, nullptr);
    EXPECT_EQ(backward(half, &half), whole);
    EXPECT_EQ(backward(std::vector<double>(BH, 0.0), &cell.wh), whole);
  }
}

TEST(PointwiseRef, RejectsMissingPointers) {
  PointwiseFwdArgsT<double> a;
  a.B = 1;
  a.H = 1;
  EXPECT_THROW(ref::lstm_pointwise_fwd(a), cuda::InvalidArgument);
  PointwiseBwdArgsT<double> bw;
  bw.B = -1;
  EXPECT_THROW(ref::lstm_pointwise_bwd(bw), cuda::InvalidArgument);
}

}  // namespace
}  // namespace melodl
