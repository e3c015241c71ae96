#pragma once
// Device kernels behind the tiebreak operators. The dispatcher registrations
// (TORCH_LIBRARY_IMPL(tiebreak, CPU/CUDA, ...)) call these; the CPU versions live
// in ops/cpu/, the CUDA versions in ops/cuda/ (compiled when TIEBREAK_WITH_CUDA).
//
// Semantics (both devices must agree bit for bit on what they compute):
// - `indices` holds, per output element, the flat index ih * W + iw of the position
//   native max_pool2d selects (i*_w), exactly as at::max_pool2d_with_indices.
// - `ties` (int32, output-shaped) holds t_w, the number of window positions equal
//   to the window maximum in the tensor's dtype (a NaN window counts 1: its i*).
// - Output and grad_input keep the input's memory format (NCHW or NHWC).

#include "ops/pool_geometry.h"
#include "tiebreak/ops/formulation.h"

#include <ATen/core/Tensor.h>

#include <tuple>

namespace tiebreak::ops {

/// Returns (output, indices, ties) for a 4-D input.
std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_cpu(const at::Tensor& input,
                                                                      const PoolGeometry& geometry,
                                                                      double beta,
                                                                      PoolFormulation formulation);
at::Tensor max_pool2d_backward_cpu(const at::Tensor& grad_output, const at::Tensor& input,
                                   const at::Tensor& indices, const at::Tensor& ties,
                                   const PoolGeometry& geometry, double beta, PoolFormulation formulation);

std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_cuda(const at::Tensor& input,
                                                                       const PoolGeometry& geometry,
                                                                       double beta,
                                                                       PoolFormulation formulation);
at::Tensor max_pool2d_backward_cuda(const at::Tensor& grad_output, const at::Tensor& input,
                                    const at::Tensor& indices, const at::Tensor& ties,
                                    const PoolGeometry& geometry, double beta, PoolFormulation formulation);

/// NormPool (L2 pooling): output sqrt(Σ x²) per window (4-D input). Orders
/// both devices follow (see ops/cpu/norm_pool2d_kernel.cpp): forward sums x² in
/// op-math in row-major window order, sqrt in op-math, one rounding; backward
/// gathers, per input element, the covering windows in row-major (oh, ow) order
/// in op-math: (x / n)·g for n = opmath(output) ≠ 0, opmath(grad_at_zero)·g for
/// n = 0; one rounding. Register device impls through ops/norm_pool2d_wrapper.h.
at::Tensor norm_pool2d_forward_cpu(const at::Tensor& input, const PoolGeometry& geometry);
at::Tensor norm_pool2d_backward_cpu(const at::Tensor& grad_output, const at::Tensor& input,
                                    const at::Tensor& output, const PoolGeometry& geometry,
                                    double grad_at_zero);
at::Tensor norm_pool2d_forward_cuda(const at::Tensor& input, const PoolGeometry& geometry);
at::Tensor norm_pool2d_backward_cuda(const at::Tensor& grad_output, const at::Tensor& input,
                                     const at::Tensor& output, const PoolGeometry& geometry,
                                     double grad_at_zero);

}  // namespace tiebreak::ops
