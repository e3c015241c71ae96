// The NormPool CPU kernels in the dispatcher: the meta step validates and
// allocates, the build for this CPU's capability fills the results.
#include "ops/cpu/cpu_capability.h"
#include "ops/cpu/kernel_builds.h"
#include "ops/norm_pool2d_dispatch.h"

#include <torch/library.h>

namespace tiebreak::ops {
namespace {

at::Tensor forward_cpu(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                       c10::IntArrayRef padding, double grad_at_zero) {
  auto m = norm_pool2d_forward_meta(self, kernel_size, stride, padding, grad_at_zero);
  TIEBREAK_CPU_KERNEL(norm_pool2d_forward_kernel, as_4d(self), as_4d(m.result), m.geometry);
  return m.result;
}

at::Tensor backward_cpu(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                        c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
                        double grad_at_zero) {
  auto m = norm_pool2d_backward_meta(grad_output, self, output, kernel_size, stride, padding, grad_at_zero);
  TIEBREAK_CPU_KERNEL(norm_pool2d_backward_kernel, as_4d(grad_output), as_4d(self), as_4d(output),
                      as_4d(m.result), m.geometry, grad_at_zero);
  return m.result;
}

}  // namespace
}  // namespace tiebreak::ops

TORCH_LIBRARY_IMPL(tiebreak, CPU, m) {
  m.impl("_norm_pool2d_forward", TORCH_FN(tiebreak::ops::forward_cpu));
  m.impl("_norm_pool2d_backward", TORCH_FN(tiebreak::ops::backward_cpu));
}
