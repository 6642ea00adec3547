// bench/cudnn_lstm.cpp: cuDNN 9 RNN API (cudnnRNNForward, cudnnRNNBackwardData_v8,
// cudnnRNNBackwardWeights_v8) behind bench/cudnn_lstm.h. Descriptor set-up: CUDNN_LSTM,
// CUDNN_RNN_ALGO_STANDARD, unidirectional, linear input, fp32 data and math, double bias,
// dropout 0, SEQ_MAJOR_UNPACKED data with every sequence of length T (unpacked layouts need
// CUDNN_RNN_PADDED_IO_ENABLED in the descriptor's auxFlags).
#include "bench/cudnn_lstm.h"

#include <cudnn.h>

#include <cstring>

#include "kernels/cuda_check.cuh"

#define MELODL_CUDNN_CHECK(expr)                                                \
  do {                                                                          \
    const cudnnStatus_t melodl_cudnn_st_ = (expr);                              \
    if (melodl_cudnn_st_ != CUDNN_STATUS_SUCCESS)                               \
      throw ::melodl::cuda::CudaError(                                          \
          std::string("cuDNN error ") + cudnnGetErrorString(melodl_cudnn_st_) + \
          " in " #expr " at " __FILE__ ":" + std::to_string(__LINE__));         \
  } while (0)

namespace melodl::bench {

namespace {

// One cuDNN matrix or bias inside the weight space: float offset, dims and strides (3-D).
struct Block {
  std::size_t offset = 0;
  int dims[3] = {0, 0, 0};
  int strides[3] = {0, 0, 0};
};

}  // namespace

struct CudnnLstm::Impl {
  CudnnLstmShape s;
  cudaStream_t stream = nullptr;
  cudnnHandle_t handle = nullptr;
  cudnnRNNDescriptor_t rnn = nullptr;
  cudnnDropoutDescriptor_t dropout = nullptr;
  cudnnRNNDataDescriptor_t xdesc = nullptr, ydesc = nullptr;
  cudnnTensorDescriptor_t hdesc = nullptr;
  cuda::DeviceBuffer<char> dropout_states;
  cuda::DeviceBuffer<int32_t> seq_lengths;
  std::size_t weight_bytes = 0, work_bytes = 0, reserve_bytes = 0;
  cuda::DeviceBuffer<char> weights, dweights, work, reserve;
  cuda::DeviceBuffer<float> dx_scratch;
  // per layer: 8 matrices (linear layer ids 0..7) and 8 biases
  std::vector<Block> mats, biases;

  ~Impl() {
    if (xdesc) cudnnDestroyRNNDataDescriptor(xdesc);
    if (ydesc) cudnnDestroyRNNDataDescriptor(ydesc);
    if (hdesc) cudnnDestroyTensorDescriptor(hdesc);
    if (rnn) cudnnDestroyRNNDescriptor(rnn);
    if (dropout) cudnnDestroyDropoutDescriptor(dropout);
    if (handle) cudnnDestroy(handle);
  }

  void synchronize() { MELODL_CUDA_CHECK(cudaStreamSynchronize(stream)); }

  // Locates every matrix and bias in the weight space and checks the shapes we rely on.
  void map_weights() {
    cudnnTensorDescriptor_t mdesc = nullptr, bdesc = nullptr;
    MELODL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&mdesc));
    MELODL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bdesc));
    const char* base = weights.get();
    auto read = [](cudnnTensorDescriptor_t d, const void* addr, const char* b0, Block& out) {
      cudnnDataType_t type;
      int nb = 0;
      MELODL_CUDNN_CHECK(cudnnGetTensorNdDescriptor(d, 3, &type, &nb, out.dims, out.strides));
      if (nb != 3)
        throw cuda::CudaError("cuDNN weight descriptor has " + std::to_string(nb) +
                              " dimensions, expected 3");
      out.offset = static_cast<std::size_t>(static_cast<const char*>(addr) - b0) / sizeof(float);
    };
    try {
      for (int l = 0; l < s.layers; ++l) {
        for (int id = 0; id < 8; ++id) {
          void* maddr = nullptr;
          void* baddr = nullptr;
          MELODL_CUDNN_CHECK(cudnnGetRNNWeightParams(handle, rnn, l, weight_bytes, weights.get(),
                                                     id, mdesc, &maddr, bdesc, &baddr));
          Block m, b;
          read(mdesc, maddr, base, m);
          read(bdesc, baddr, base, b);
          const int in = id < 4 ? (l == 0 ? s.input : s.hidden) : s.hidden;
          if (m.dims[1] != s.hidden || m.dims[2] != in || b.dims[1] != s.hidden)
            throw cuda::CudaError("cuDNN LSTM layer " + std::to_string(l) + " linear layer " +
                                  std::to_string(id) + ": matrix dims [" +
                                  std::to_string(m.dims[1]) + "," + std::to_string(m.dims[2]) +
                                  "], expected [H,I] = [" + std::to_string(s.hidden) + "," +
                                  std::to_string(in) + "]");
          mats.push_back(m);
          biases.push_back(b);
        }
      }
    } catch (...) {
      cudnnDestroyTensorDescriptor(mdesc);
      cudnnDestroyTensorDescriptor(bdesc);
      throw;
    }
    cudnnDestroyTensorDescriptor(mdesc);
    cudnnDestroyTensorDescriptor(bdesc);
  }
};

CudnnLstm::CudnnLstm(const CudnnLstmShape& shape, cuda::Stream stream)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.s = shape;
  m.stream = stream;
  cuda::require(shape.layers >= 1 && shape.input >= 1 && shape.hidden >= 1 && shape.batch >= 1 &&
                    shape.T >= 1,
                "bench::CudnnLstm", "layers, input, hidden, batch, T must be >= 1");
  MELODL_CUDNN_CHECK(cudnnCreate(&m.handle));
  MELODL_CUDNN_CHECK(cudnnSetStream(m.handle, stream));
  MELODL_CUDNN_CHECK(cudnnCreateDropoutDescriptor(&m.dropout));
  std::size_t states = 0;
  MELODL_CUDNN_CHECK(cudnnDropoutGetStatesSize(m.handle, &states));
  m.dropout_states = cuda::DeviceBuffer<char>(states);
  MELODL_CUDNN_CHECK(
      cudnnSetDropoutDescriptor(m.dropout, m.handle, 0.0f, m.dropout_states.get(), states, 1));
  MELODL_CUDNN_CHECK(cudnnCreateRNNDescriptor(&m.rnn));
  MELODL_CUDNN_CHECK(cudnnSetRNNDescriptor_v8(
      m.rnn, CUDNN_RNN_ALGO_STANDARD, CUDNN_LSTM, CUDNN_RNN_DOUBLE_BIAS, CUDNN_UNIDIRECTIONAL,
      CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT,
      shape.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH, shape.input, shape.hidden, shape.hidden,
      shape.layers, m.dropout, CUDNN_RNN_PADDED_IO_ENABLED));
  const std::vector<int32_t> lengths(static_cast<std::size_t>(shape.batch), shape.T);
  m.seq_lengths = cuda::DeviceBuffer<int32_t>(lengths);
  float fill = 0.0f;
  MELODL_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&m.xdesc));
  MELODL_CUDNN_CHECK(cudnnSetRNNDataDescriptor(m.xdesc, CUDNN_DATA_FLOAT,
                                               CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, shape.T,
                                               shape.batch, shape.input, lengths.data(), &fill));
  MELODL_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&m.ydesc));
  MELODL_CUDNN_CHECK(cudnnSetRNNDataDescriptor(m.ydesc, CUDNN_DATA_FLOAT,
                                               CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, shape.T,
                                               shape.batch, shape.hidden, lengths.data(), &fill));
  MELODL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&m.hdesc));
  const int dims[3] = {shape.layers, shape.batch, shape.hidden};
  const int strides[3] = {shape.batch * shape.hidden, shape.hidden, 1};
  MELODL_CUDNN_CHECK(cudnnSetTensorNdDescriptor(m.hdesc, CUDNN_DATA_FLOAT, 3, dims, strides));
  MELODL_CUDNN_CHECK(cudnnGetRNNWeightSpaceSize(m.handle, m.rnn, &m.weight_bytes));
  MELODL_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(m.handle, m.rnn, CUDNN_FWD_MODE_TRAINING, m.xdesc,
                                               &m.work_bytes, &m.reserve_bytes));
  m.weights = cuda::DeviceBuffer<char>(m.weight_bytes);
  m.dweights = cuda::DeviceBuffer<char>(m.weight_bytes);
  m.work = cuda::DeviceBuffer<char>(m.work_bytes);
  m.reserve = cuda::DeviceBuffer<char>(m.reserve_bytes);
  m.map_weights();
}

CudnnLstm::~CudnnLstm() = default;

const CudnnLstmShape& CudnnLstm::shape() const { return impl_->s; }

void CudnnLstm::set_weights(const std::vector<HostLstmLayer>& layers) {
  auto& m = *impl_;
  const int H = m.s.hidden, G = 4 * H;
  cuda::require(static_cast<int>(layers.size()) == m.s.layers, "bench::CudnnLstm::set_weights",
                "one HostLstmLayer per layer");
  std::vector<float> space(m.weight_bytes / sizeof(float), 0.0f);
  for (int l = 0; l < m.s.layers; ++l) {
    const int I = l == 0 ? m.s.input : H;
    const auto& w = layers[static_cast<std::size_t>(l)];
    cuda::require(w.W.size() == static_cast<std::size_t>(I) * G &&
                      w.R.size() == static_cast<std::size_t>(H) * G &&
                      w.b.size() == static_cast<std::size_t>(G),
                  "bench::CudnnLstm::set_weights", "layer " + std::to_string(l) + " sizes");
    for (int id = 0; id < 8; ++id) {
      const Block& mb = m.mats[static_cast<std::size_t>(l * 8 + id)];
      const Block& bb = m.biases[static_cast<std::size_t>(l * 8 + id)];
      const int q = id % 4;  // gate i, f, g, o
      const bool input = id < 4;
      const std::vector<float>& src = input ? w.W : w.R;
      const int rows = input ? I : H;  // melodl: [rows, G], gate block columns q*H .. q*H+H
      for (int h = 0; h < H; ++h) {
        for (int i = 0; i < rows; ++i)
          space[mb.offset + static_cast<std::size_t>(h) * mb.strides[1] +
                static_cast<std::size_t>(i) * mb.strides[2]] =
              src[static_cast<std::size_t>(i) * G + q * H + h];
        space[bb.offset + static_cast<std::size_t>(h) * bb.strides[1]] =
            input ? w.b[static_cast<std::size_t>(q) * H + h] : 0.0f;
      }
    }
  }
  MELODL_CUDA_CHECK(cudaMemcpyAsync(m.weights.get(), space.data(), m.weight_bytes,
                                    cudaMemcpyHostToDevice, m.stream));
  m.synchronize();
}

std::vector<HostLstmLayer> CudnnLstm::get_weight_grads() {
  auto& m = *impl_;
  const int H = m.s.hidden, G = 4 * H;
  std::vector<float> space(m.weight_bytes / sizeof(float));
  MELODL_CUDA_CHECK(cudaMemcpyAsync(space.data(), m.dweights.get(), m.weight_bytes,
                                    cudaMemcpyDeviceToHost, m.stream));
  m.synchronize();
  std::vector<HostLstmLayer> out(static_cast<std::size_t>(m.s.layers));
  for (int l = 0; l < m.s.layers; ++l) {
    const int I = l == 0 ? m.s.input : H;
    auto& g = out[static_cast<std::size_t>(l)];
    g.W.assign(static_cast<std::size_t>(I) * G, 0.0f);
    g.R.assign(static_cast<std::size_t>(H) * G, 0.0f);
    g.b.assign(static_cast<std::size_t>(G), 0.0f);
    for (int id = 0; id < 8; ++id) {
      const Block& mb = m.mats[static_cast<std::size_t>(l * 8 + id)];
      const Block& bb = m.biases[static_cast<std::size_t>(l * 8 + id)];
      const int q = id % 4;
      const bool input = id < 4;
      std::vector<float>& dst = input ? g.W : g.R;
      const int rows = input ? I : H;
      for (int h = 0; h < H; ++h) {
        for (int i = 0; i < rows; ++i)
          dst[static_cast<std::size_t>(i) * G + q * H + h] =
              space[mb.offset + static_cast<std::size_t>(h) * mb.strides[1] +
                    static_cast<std::size_t>(i) * mb.strides[2]];
        if (input)
          g.b[static_cast<std::size_t>(q) * H + h] =
              space[bb.offset + static_cast<std::size_t>(h) * bb.strides[1]];
      }
    }
  }
  return out;
}

void CudnnLstm::forward(const float* x, const float* hx, const float* cx, float* y, float* hy,
                        float* cy, bool training) {
  auto& m = *impl_;
  MELODL_CUDNN_CHECK(cudnnRNNForward(
      m.handle, m.rnn, training ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE,
      m.seq_lengths.get(), m.xdesc, x, m.ydesc, y, m.hdesc, hx, hy, m.hdesc, cx, cy, m.weight_bytes,
      m.weights.get(), m.work_bytes, m.work.get(), m.reserve_bytes, m.reserve.get()));
}

void CudnnLstm::backward(const float* x, const float* hx, const float* cx, const float* y,
                         const float* dy, float* dx, float* dhx, float* dcx) {
  auto& m = *impl_;
  if (dx == nullptr) {
    const std::size_t n = static_cast<std::size_t>(m.s.T) * m.s.batch * m.s.input;
    if (m.dx_scratch.size() < n) m.dx_scratch = cuda::DeviceBuffer<float>(n);
    dx = m.dx_scratch.get();
  }
  MELODL_CUDNN_CHECK(cudnnRNNBackwardData_v8(
      m.handle, m.rnn, m.seq_lengths.get(), m.ydesc, y, dy, m.xdesc, dx, m.hdesc, hx, nullptr, dhx,
      m.hdesc, cx, nullptr, dcx, m.weight_bytes, m.weights.get(), m.work_bytes, m.work.get(),
      m.reserve_bytes, m.reserve.get()));
  MELODL_CUDNN_CHECK(cudnnRNNBackwardWeights_v8(
      m.handle, m.rnn, CUDNN_WGRAD_MODE_SET, m.seq_lengths.get(), m.xdesc, x, m.hdesc, hx, m.ydesc,
      y, m.weight_bytes, m.dweights.get(), m.work_bytes, m.work.get(), m.reserve_bytes,
      m.reserve.get()));
}

}  // namespace melodl::bench
