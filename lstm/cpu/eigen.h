// lstm/cpu/eigen.h: the Eigen views the CPU backend works with (internal): row-major maps of
// raw float buffers, with an explicit row stride (leading dimension) where a view is a
// column block of a wider matrix.
#pragma once

#include <Eigen/Core>

namespace melodl::lstm::cpu {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;
using MatMap = Eigen::Map<RowMat, 0, Stride>;
using ConstMatMap = Eigen::Map<const RowMat, 0, Stride>;
using RowVecMap = Eigen::Map<Eigen::RowVectorXf>;
using ConstRowVecMap = Eigen::Map<const Eigen::RowVectorXf>;

// Row-major [rows, cols] view of p with row stride ld.
inline MatMap mat(float* p, Eigen::Index rows, Eigen::Index cols, Eigen::Index ld) {
  return MatMap(p, rows, cols, Stride(ld));
}
inline ConstMatMap cmat(const float* p, Eigen::Index rows, Eigen::Index cols, Eigen::Index ld) {
  return ConstMatMap(p, rows, cols, Stride(ld));
}

}  // namespace melodl::lstm::cpu
