// tests/kernels/cudnn_lstm_cuda_test.cpp: melodl's standard-LSTM mode (peepholes off) against
// cuDNN's CUDNN_LSTM (bench/cudnn_lstm.h) for the same weights: a stack of 1-3 variant-(a)
// layers (kernels/lstm_layer.h; layer 0 one-hot as a row gather, cuDNN fed the same one-hot
// rows as a dense input) versus one multi-layer cuDNN RNN. Forward: top-layer outputs and
// every layer's final h and c from a non-zero initial state. Backward (dy on the top
// outputs, no gradient on the final state): dW, dR, db of every layer (cuDNN's input-bias
// gradient; its recurrent-bias gradient is the same quantity), dh0 and dc0.
// Both sides in exact fp32 (GemmMath::kFp32, CUDNN_FMA_MATH): forward atol 1e-5 / rtol 1e-4,
// gradients atol 1e-4 x (largest entry) / rtol 1e-3. Label cuda; built only when cuDNN is
// found; skips without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "bench/cudnn_lstm.h"
#include "kernels/lstm_layer.h"
#include "tests/kernels/cuda_test_util.h"

namespace melodl {
namespace {

struct CudnnCase {
  int L, V, H, B, T;
};

void PrintTo(const CudnnCase& c, std::ostream* os) {
  *os << "L" << c.L << " V" << c.V << " H" << c.H << " B" << c.B << " T" << c.T;
}

class CudnnLstmMatch : public test::CudaParamTest<CudnnCase> {};

std::vector<float> download(const cuda::DeviceBuffer<float>& b, const cuda::DeviceContext& dc) {
  dc.synchronize();
  return b.download();
}

double scale_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s = std::max(s, std::abs(static_cast<double>(x)));
  return std::max(1.0, s);
}

TEST_P(CudnnLstmMatch, ForwardAndGradientsMatch) {
  const CudnnCase c = GetParam();
  const int L = c.L, V = c.V, H = c.H, B = c.B, T = c.T, G = 4 * H;
  const size_t TB = size_t(T) * B, BH = size_t(B) * H;
  cuda::DeviceContext dc(cuda::GemmMath::kFp32);
  const auto ex = dc.exec();

  // weights in melodl's layout, unsaturated
  const double s = 1.0 / std::sqrt(static_cast<double>(H));
  std::vector<bench::HostLstmLayer> host(L);
  for (int l = 0; l < L; ++l) {
    const int I = l == 0 ? V : H;
    host[l].W = test::uniform<float>(size_t(I) * G, 100 + l, -s, s);
    host[l].R = test::uniform<float>(size_t(H) * G, 200 + l, -s, s);
    host[l].b = test::uniform<float>(size_t(G), 300 + l, -0.2, 0.2);
  }
  const auto symbols = test::uniform_int(TB, 7, 0, V - 1);
  std::vector<float> onehot(TB * V, 0.0f);
  for (size_t n = 0; n < TB; ++n) onehot[n * V + size_t(symbols[n])] = 1.0f;
  const auto hx = test::uniform<float>(size_t(L) * BH, 8, -0.5, 0.5);
  const auto cx = test::uniform<float>(size_t(L) * BH, 9, -0.5, 0.5);
  const auto dy = test::uniform<float>(TB * H, 10, -1.0, 1.0);

  auto d_sym = test::to_device(symbols);
  auto d_x = test::to_device(onehot);
  auto d_hx = test::to_device(hx), d_cx = test::to_device(cx), d_dy = test::to_device(dy);

  // ---- melodl: variant (a) layers, peepholes off
  std::vector<cuda::DeviceBuffer<float>> W, R, b, hs, cs, gates, dW, dR, db, dx;
  for (int l = 0; l < L; ++l) {
    const int I = l == 0 ? V : H;
    W.push_back(test::to_device(host[l].W));
    R.push_back(test::to_device(host[l].R));
    b.push_back(test::to_device(host[l].b));
    hs.emplace_back(TB * H);
    cs.emplace_back(TB * H);
    gates.emplace_back(TB * G);
    dW.emplace_back(size_t(I) * G);
    dR.emplace_back(size_t(H) * G);
    db.emplace_back(size_t(G));
    dx.emplace_back(TB * H);  // dL/d(input of layer l), used for l > 0
  }
  cuda::DeviceBuffer<float> dh0(size_t(L) * BH), dc0(size_t(L) * BH),
      ws(cuda::lstm_layer_bwd_workspace_floats(T, B, H));
  for (int l = 0; l < L; ++l) {
    LayerFwdArgs f;
    f.T = T;
    f.B = B;
    f.I = l == 0 ? V : H;
    f.H = H;
    f.peephole = false;
    f.training = true;
    f.symbols = l == 0 ? d_sym.get() : nullptr;
    f.x = l > 0 ? hs[l - 1].get() : nullptr;
    f.W = W[l].get();
    f.R = R[l].get();
    f.b = b[l].get();
    f.h0 = d_hx.get() + l * BH;
    f.c0 = d_cx.get() + l * BH;
    f.hs = hs[l].get();
    f.cs = cs[l].get();
    f.gates = gates[l].get();
    cuda::lstm_layer_forward(f, ex);
  }
  for (int l = L - 1; l >= 0; --l) {
    LayerBwdArgs a;
    a.T = T;
    a.B = B;
    a.I = l == 0 ? V : H;
    a.H = H;
    a.peephole = false;
    a.symbols = l == 0 ? d_sym.get() : nullptr;
    a.x = l > 0 ? hs[l - 1].get() : nullptr;
    a.W = W[l].get();
    a.R = R[l].get();
    a.h0 = d_hx.get() + l * BH;
    a.c0 = d_cx.get() + l * BH;
    a.hs = hs[l].get();
    a.cs = cs[l].get();
    a.gates = gates[l].get();
    a.dhs = l == L - 1 ? d_dy.get() : dx[l + 1].get();
    a.dW = dW[l].get();
    a.dR = dR[l].get();
    a.db = db[l].get();
    a.dx = l > 0 ? dx[l].get() : nullptr;
    a.dh0 = dh0.get() + l * BH;
    a.dc0 = dc0.get() + l * BH;
    a.workspace = ws.get();
    cuda::lstm_layer_backward(a, ex);
  }

  // ---- cuDNN on the same stream
  bench::CudnnLstm ref(bench::CudnnLstmShape{L, V, H, B, T, /*tf32=*/false}, dc.stream());
  ref.set_weights(host);
  cuda::DeviceBuffer<float> y(TB * H), hy(size_t(L) * BH), cy(size_t(L) * BH), rdhx(size_t(L) * BH),
      rdcx(size_t(L) * BH);
  ref.forward(d_x.get(), d_hx.get(), d_cx.get(), y.get(), hy.get(), cy.get(), true);
  ref.backward(d_x.get(), d_hx.get(), d_cx.get(), y.get(), d_dy.get(), nullptr, rdhx.get(),
               rdcx.get());
  const auto grads = ref.get_weight_grads();
  ASSERT_EQ(grads.size(), static_cast<std::size_t>(L)) << "cuDNN returned one gradient per layer";
  for (int l = 0; l < L; ++l) {
    ASSERT_EQ(grads[l].W.size(), host[l].W.size()) << "layer " << l;
    ASSERT_EQ(grads[l].R.size(), host[l].R.size()) << "layer " << l;
    ASSERT_EQ(grads[l].b.size(), host[l].b.size()) << "layer " << l;
  }

  // ---- compare
  test::expect_allclose(download(hs[L - 1], dc), download(y, dc), 1e-5, 1e-4, "top outputs y",
                        {T, B, H});
  const auto hy_h = download(hy, dc), cy_h = download(cy, dc);
  for (int l = 0; l < L; ++l) {
    const auto h = download(hs[l], dc), cc = download(cs[l], dc);
    const std::vector<float> hT(h.end() - long(BH), h.end()), cT(cc.end() - long(BH), cc.end());
    test::expect_allclose(
        hT, std::vector<float>(hy_h.begin() + long(l * BH), hy_h.begin() + long((l + 1) * BH)),
        1e-5, 1e-4, "final h of layer " + std::to_string(l));
    test::expect_allclose(
        cT, std::vector<float>(cy_h.begin() + long(l * BH), cy_h.begin() + long((l + 1) * BH)),
        1e-5, 1e-4, "final c of layer " + std::to_string(l));
    const auto ow = download(dW[l], dc), orr = download(dR[l], dc), ob = download(db[l], dc);
    test::expect_allclose(ow, grads[l].W, 1e-4 * scale_of(grads[l].W), 1e-3,
                          "dW of layer " + std::to_string(l));
    test::expect_allclose(orr, grads[l].R, 1e-4 * scale_of(grads[l].R), 1e-3,
                          "dR of layer " + std::to_string(l));
    test::expect_allclose(ob, grads[l].b, 1e-4 * scale_of(grads[l].b), 1e-3,
                          "db of layer " + std::to_string(l));
  }
  const auto rh = download(rdhx, dc), rc = download(rdcx, dc);
  test::expect_allclose(download(dh0, dc), rh, 1e-4 * scale_of(rh), 1e-3, "dh0 (all layers)");
  test::expect_allclose(download(dc0, dc), rc, 1e-4 * scale_of(rc), 1e-3, "dc0 (all layers)");
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudnnLstmMatch,
                         ::testing::Values(CudnnCase{1, 5, 3, 1, 1}, CudnnCase{1, 7, 33, 7, 9},
                                           CudnnCase{2, 11, 17, 4, 12}, CudnnCase{3, 9, 65, 5, 20},
                                           CudnnCase{2, 80, 200, 32, 50}),
                         [](const ::testing::TestParamInfo<CudnnCase>& i) {
                           std::ostringstream os;  // not operator+: GCC 12 -Wrestrict
                           os << "L" << i.param.L << "_V" << i.param.V << "_H" << i.param.H << "_B"
                              << i.param.B << "_T" << i.param.T;
                           return os.str();
                         });

}  // namespace
}  // namespace melodl
