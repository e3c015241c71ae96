#pragma once
// What the CUDA pooling tests share: the kernels reached through the
// dispatcher (the CUDA registrations of the internal ops), window geometries
// carrying both the kernel view (PoolGeometry) and the op arguments, and the
// rule for a machine without a GPU: skip with the reason, or fail when the
// environment asks for CUDA (TIEBREAK_REQUIRE_CUDA=1, for GPU CI), so that a
// CUDA-less run cannot pass for a GPU check.

#include "ops/max_pool2d_dispatch.h"
#include "ops/norm_pool2d_dispatch.h"
#include "ops/pool_geometry.h"
#include "tiebreak/core/build_info.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace tiebreak::ops::cuda_test {

/// A pooling geometry as the kernels see it, plus the arguments the ops take.
struct Geometry : PoolGeometry {
  std::vector<int64_t> kernel() const { return {kernel_h, kernel_w}; }
  std::vector<int64_t> stride() const { return {stride_h, stride_w}; }
  std::vector<int64_t> padding() const { return {pad_h, pad_w}; }
  std::vector<int64_t> dilation() const { return {dilation_h, dilation_w}; }
};

inline Geometry geometry(const at::Tensor& input, int64_t kernel, int64_t stride, int64_t pad,
                         int64_t dilation, bool ceil_mode) {
  Geometry g;
  static_cast<PoolGeometry&>(g) = make_pool_geometry(
      parse_pool_args("cuda test", {kernel}, {stride}, {pad}, {dilation}, ceil_mode), input);
  return g;
}

/// Why the CUDA kernels cannot run here, or nothing.
inline std::optional<std::string> cuda_unavailable() {
  if (!build_info().cuda_kernels) {
    return std::string("tiebreak was built without its CUDA kernels (TIEBREAK_CUDA=OFF or no nvcc)");
  }
  if (!torch::cuda::is_available()) return std::string("no CUDA device available");
  return std::nullopt;
}

inline bool cuda_required() {
  const char* value = std::getenv("TIEBREAK_REQUIRE_CUDA");
  return value != nullptr && std::string(value) == "1";
}

}  // namespace tiebreak::ops::cuda_test

/// In a test body or SetUp: skip (or, with TIEBREAK_REQUIRE_CUDA=1, fail) when
/// the CUDA kernels cannot run.
#define TIEBREAK_REQUIRE_CUDA_OR_SKIP()                                                                    \
  do {                                                                                                     \
    if (const auto reason = ::tiebreak::ops::cuda_test::cuda_unavailable()) {                              \
      if (::tiebreak::ops::cuda_test::cuda_required()) {                                                   \
        GTEST_FAIL() << *reason << ", and TIEBREAK_REQUIRE_CUDA=1 asks for the CUDA kernels to be tested"; \
      }                                                                                                    \
      GTEST_SKIP() << *reason << ": CUDA pooling kernels not tested (skipped, not failed; "                \
                   << "TIEBREAK_REQUIRE_CUDA=1 makes this a failure)";                                     \
    }                                                                                                      \
  } while (false)

namespace {

inline std::string formulation_name(tiebreak::ops::PoolFormulation f) { return tiebreak::ops::to_string(f); }

/// The CUDA kernels as the old direct entry points were called: through the
/// dispatcher's internal ops with the geometry's arguments.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_cuda(
    const at::Tensor& x, const tiebreak::ops::cuda_test::Geometry& g, double beta,
    tiebreak::ops::PoolFormulation f) {
  return tiebreak::ops::dispatch::_max_pool2d_forward(x, g.kernel(), g.stride(), g.padding(), g.dilation(),
                                                      g.ceil_mode, beta, formulation_name(f));
}

inline at::Tensor max_pool2d_backward_cuda(const at::Tensor& grad, const at::Tensor& x,
                                           const at::Tensor& indices, const at::Tensor& ties,
                                           const tiebreak::ops::cuda_test::Geometry& g, double beta,
                                           tiebreak::ops::PoolFormulation f) {
  return tiebreak::ops::dispatch::_max_pool2d_backward(grad, x, indices, ties, g.kernel(), g.stride(),
                                                       g.padding(), g.dilation(), g.ceil_mode, beta,
                                                       formulation_name(f));
}

inline at::Tensor norm_pool2d_forward_cuda(const at::Tensor& x, const tiebreak::ops::cuda_test::Geometry& g) {
  return tiebreak::ops::dispatch::_norm_pool2d_forward(x, g.kernel(), g.stride(), g.padding(), 0.0);
}

inline at::Tensor norm_pool2d_backward_cuda(const at::Tensor& grad, const at::Tensor& x,
                                            const at::Tensor& out,
                                            const tiebreak::ops::cuda_test::Geometry& g,
                                            double grad_at_zero) {
  return tiebreak::ops::dispatch::_norm_pool2d_backward(grad, x, out, g.kernel(), g.stride(), g.padding(),
                                                        grad_at_zero);
}

}  // namespace
