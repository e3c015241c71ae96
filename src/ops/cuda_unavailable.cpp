// The CUDA entry points of ops/kernels.h in a build without nvcc
// (TIEBREAK_CUDA=OFF, or AUTO without a CUDA compiler): they exist so that every
// caller links the same way, and fail with a clear error if ever reached.

#include "ops/kernels.h"

#ifndef TIEBREAK_WITH_CUDA

#include <c10/util/Exception.h>

namespace tiebreak::ops {

namespace {
[[noreturn]] void fail_without_cuda(const char* op) {
  TORCH_CHECK(false, op,
              ": this tiebreak was built without its CUDA kernels; reconfigure with TIEBREAK_CUDA=ON "
              "(needs nvcc) to pool CUDA tensors");
}
}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_cuda(const at::Tensor&, const PoolGeometry&,
                                                                       double, PoolFormulation) {
  fail_without_cuda("max_pool2d_forward_cuda");
}

at::Tensor max_pool2d_backward_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                    const at::Tensor&, const PoolGeometry&, double, PoolFormulation) {
  fail_without_cuda("max_pool2d_backward_cuda");
}

at::Tensor norm_pool2d_forward_cuda(const at::Tensor&, const PoolGeometry&) {
  fail_without_cuda("norm_pool2d_forward_cuda");
}

at::Tensor norm_pool2d_backward_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                     const PoolGeometry&, double) {
  fail_without_cuda("norm_pool2d_backward_cuda");
}

}  // namespace tiebreak::ops

#endif
