// CUDA registrations of the pooling operators' device kernels: the same
// device-independent wrappers as the CPU registrations (argument checks, 3-D
// inputs), with the kernels of ops/cuda/*.cu.

#ifdef TIEBREAK_WITH_CUDA

#include "ops/kernels.h"
#include "ops/max_pool2d_impl.h"
#include "ops/norm_pool2d_wrapper.h"

#include <torch/library.h>

namespace tiebreak::ops {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_cuda_op(
    const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation, bool ceil_mode, double beta, c10::string_view formulation) {
  return max_pool2d_forward_impl(max_pool2d_forward_cuda, self, kernel_size, stride, padding, dilation, ceil_mode,
                                 beta, formulation);
}

at::Tensor max_pool2d_backward_cuda_op(const at::Tensor& grad_output, const at::Tensor& self,
                                       const at::Tensor& indices, const at::Tensor& ties,
                                       c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                       c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode,
                                       double beta, c10::string_view formulation) {
  return max_pool2d_backward_impl(max_pool2d_backward_cuda, grad_output, self, indices, ties, kernel_size, stride,
                                  padding, dilation, ceil_mode, beta, formulation);
}

at::Tensor norm_pool2d_forward_cuda_op(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                       c10::IntArrayRef stride, c10::IntArrayRef padding) {
  return run_norm_pool2d_forward(self, kernel_size, stride, padding, norm_pool2d_forward_cuda);
}

at::Tensor norm_pool2d_backward_cuda_op(const at::Tensor& grad_output, const at::Tensor& self,
                                        const at::Tensor& output, c10::IntArrayRef kernel_size,
                                        c10::IntArrayRef stride, c10::IntArrayRef padding, double grad_at_zero) {
  return run_norm_pool2d_backward(grad_output, self, output, kernel_size, stride, padding, grad_at_zero,
                                  norm_pool2d_backward_cuda);
}

}  // namespace
}  // namespace tiebreak::ops

TORCH_LIBRARY_IMPL(tiebreak, CUDA, m) {
  m.impl("_max_pool2d_forward", TORCH_FN(tiebreak::ops::max_pool2d_forward_cuda_op));
  m.impl("_max_pool2d_backward", TORCH_FN(tiebreak::ops::max_pool2d_backward_cuda_op));
  m.impl("_norm_pool2d_forward", TORCH_FN(tiebreak::ops::norm_pool2d_forward_cuda_op));
  m.impl("_norm_pool2d_backward", TORCH_FN(tiebreak::ops::norm_pool2d_backward_cuda_op));
}

#endif  // TIEBREAK_WITH_CUDA
