// The MaxPool CPU kernels in the dispatcher: the meta step validates and
// allocates, the build for this CPU's capability fills the results.
#include "ops/cpu/cpu_capability.h"
#include "ops/cpu/kernel_builds.h"
#include "ops/max_pool2d_dispatch.h"

#include <torch/library.h>

namespace tiebreak::ops {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_cpu(const at::Tensor& self,
                                                           c10::IntArrayRef kernel_size,
                                                           c10::IntArrayRef stride, c10::IntArrayRef padding,
                                                           c10::IntArrayRef dilation, bool ceil_mode,
                                                           double beta, c10::string_view formulation) {
  auto m =
      max_pool2d_forward_meta(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
  TIEBREAK_CPU_KERNEL(max_pool2d_forward_kernel, as_4d(self), as_4d(m.output), as_4d(m.indices),
                      as_4d(m.ties), m.geometry, beta, m.formulation);
  return {m.output, m.indices, m.ties};
}

at::Tensor backward_cpu(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& indices,
                        const at::Tensor& ties, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                        c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
                        c10::string_view formulation) {
  auto m = max_pool2d_backward_meta(grad_output, self, indices, ties, kernel_size, stride, padding, dilation,
                                    ceil_mode, beta, formulation);
  TIEBREAK_CPU_KERNEL(max_pool2d_backward_kernel, as_4d(grad_output), as_4d(self), as_4d(indices),
                      as_4d(ties), as_4d(m.grad_input), m.geometry, beta, m.formulation);
  return m.grad_input;
}

}  // namespace
}  // namespace tiebreak::ops

TORCH_LIBRARY_IMPL(tiebreak, CPU, m) {
  m.impl("_max_pool2d_forward", TORCH_FN(tiebreak::ops::forward_cpu));
  m.impl("_max_pool2d_backward", TORCH_FN(tiebreak::ops::backward_cpu));
}
