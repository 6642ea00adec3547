// examples/cuda_options.h: the CUDA backend's tuning options shared by `melodl train` and
// `melodl bench` (--cuda-math, --cuda-graphs, --cuda-wavefront, --cuda-persistent), mapped onto
// lstm::ExecutionOptions. Header-only: only commands that link melodl::lstm include it. All but
// --cuda-math are experimental (docs/kernels.md says what has run on a GPU); they are ignored
// on the CPU.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "lstm/execution.h"

namespace melodl::cli {

struct CudaOptions {
  std::string math = "tf32";
  bool graphs = false;
  bool persistent = false;
  int wavefront = 0;
};

inline void add_cuda_options(CLI::App& sub, CudaOptions& o) {
  sub.add_option("--cuda-math", o.math,
                 "GEMM precision on the GPU: tf32 (TF32 tensor cores, fp32 accumulation), fp32 "
                 "(exact) or bf16 (bf16 operands, fp32 accumulation)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tf32", "fp32", "bf16"}));
  sub.add_flag("--cuda-graphs", o.graphs,
               "Experimental: replay each TBPTT segment as a CUDA graph (one launch per segment)");
  sub.add_option("--cuda-wavefront", o.wavefront,
                 "Experimental: run the layers as a wavefront of chunks of N steps, each layer "
                 "on its own stream (0 = layer after layer)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  sub.add_flag("--cuda-persistent", o.persistent,
               "Experimental: persistent layer kernels with the recurrent weights on chip, "
               "where the shape fits the GPU");
}

// Copies the options into `c`: all of them, or (only_given, e.g. when resuming a run) those
// given on the command line.
inline void apply_cuda_options(const CLI::App& sub, const CudaOptions& o, lstm::ExecutionOptions& c,
                               bool only_given) {
  auto use = [&](const char* name) { return !only_given || sub.get_option(name)->count() > 0; };
  if (use("--cuda-math")) c.cuda_math = lstm::cuda_math_from_string(o.math);
  if (use("--cuda-graphs")) c.cuda_graphs = o.graphs;
  if (use("--cuda-wavefront")) c.cuda_wavefront = o.wavefront;
  if (use("--cuda-persistent")) c.cuda_persistent = o.persistent;
}

}  // namespace melodl::cli
