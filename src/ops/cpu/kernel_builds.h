#pragma once
// The builds of the CPU pooling kernels: <op>_kernel_impl.h compiled once per
// capability (see cpu_capability.h), each in its own namespace — default_isa
// always, f16c where TIEBREAK_CPU_F16C_KERNELS. <op>_kernel.cpp picks one by
// cpu_capability() and registers it; tests call each build directly to check
// that they agree bit for bit.
//
// The kernels take 4-D tensors whose geometry the op's meta step validated and
// whose results it allocated (dense in the input's pooling layout); they only
// assert.

#include "ops/pool_geometry.h"
#include "tiebreak/ops/formulation.h"

#include <ATen/core/Tensor.h>

namespace tiebreak::ops {

#define TIEBREAK_DECLARE_CPU_KERNELS(capability)                                                           \
  namespace capability {                                                                                   \
  void max_pool2d_forward_kernel(const at::Tensor& input, const at::Tensor& output,                        \
                                 const at::Tensor& indices, const at::Tensor& ties,                        \
                                 const PoolGeometry& geometry, double beta, PoolFormulation formulation);  \
  void max_pool2d_backward_kernel(const at::Tensor& grad_output, const at::Tensor& input,                  \
                                  const at::Tensor& indices, const at::Tensor& ties,                       \
                                  const at::Tensor& grad_input, const PoolGeometry& geometry, double beta, \
                                  PoolFormulation formulation);                                            \
  void norm_pool2d_forward_kernel(const at::Tensor& input, const at::Tensor& output,                       \
                                  const PoolGeometry& geometry);                                           \
  void norm_pool2d_backward_kernel(const at::Tensor& grad_output, const at::Tensor& input,                 \
                                   const at::Tensor& output, const at::Tensor& grad_input,                 \
                                   const PoolGeometry& geometry, double grad_at_zero);                     \
  }
TIEBREAK_DECLARE_CPU_KERNELS(default_isa)
#ifdef TIEBREAK_CPU_F16C_KERNELS
TIEBREAK_DECLARE_CPU_KERNELS(f16c)
#endif
#undef TIEBREAK_DECLARE_CPU_KERNELS

}  // namespace tiebreak::ops

/// Calls `fn` of the build cpu_capability() selects.
#ifdef TIEBREAK_CPU_F16C_KERNELS
#define TIEBREAK_CPU_KERNEL(fn, ...)                                         \
  (::tiebreak::ops::cpu_capability() == ::tiebreak::ops::CpuCapability::F16C \
       ? ::tiebreak::ops::f16c::fn(__VA_ARGS__)                              \
       : ::tiebreak::ops::default_isa::fn(__VA_ARGS__))
#else
#define TIEBREAK_CPU_KERNEL(fn, ...) ::tiebreak::ops::default_isa::fn(__VA_ARGS__)
#endif
