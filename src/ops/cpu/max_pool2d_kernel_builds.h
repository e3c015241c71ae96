#pragma once
// The builds of the MaxPool CPU kernels (max_pool2d_kernel_impl.h compiled once
// per capability): default_isa always, f16c where TIEBREAK_CPU_F16C_KERNELS.
// ops/kernels.h's max_pool2d_*_cpu pick one by cpu_capability(); tests call
// each build directly to check that they agree bit for bit.

#include "ops/kernels.h"

namespace tiebreak::ops {

// One declaration per build of max_pool2d_kernel_impl.h.
#define TIEBREAK_DECLARE_MAX_POOL2D_CPU_KERNELS(capability)                                           \
  namespace capability {                                                                              \
  std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_cpu(const at::Tensor& input,      \
                                                                        const PoolGeometry& geometry, \
                                                                        double beta,                  \
                                                                        PoolFormulation formulation); \
  at::Tensor max_pool2d_backward_cpu(const at::Tensor& grad_output, const at::Tensor& input,          \
                                     const at::Tensor& indices, const at::Tensor& ties,               \
                                     const PoolGeometry& geometry, double beta,                       \
                                     PoolFormulation formulation);                                    \
  }
TIEBREAK_DECLARE_MAX_POOL2D_CPU_KERNELS(default_isa)
#ifdef TIEBREAK_CPU_F16C_KERNELS
TIEBREAK_DECLARE_MAX_POOL2D_CPU_KERNELS(f16c)
#endif
#undef TIEBREAK_DECLARE_MAX_POOL2D_CPU_KERNELS

}  // namespace tiebreak::ops
