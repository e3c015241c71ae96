// Entry points of the MaxPool CPU kernels: the build for this CPU's capability.
#include "ops/cpu/cpu_capability.h"
#include "ops/cpu/max_pool2d_kernel_builds.h"
#include "ops/kernels.h"

namespace tiebreak::ops {

std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_cpu(const at::Tensor& input,
                                                                      const PoolGeometry& geometry,
                                                                      double beta,
                                                                      PoolFormulation formulation) {
#ifdef TIEBREAK_CPU_F16C_KERNELS
  if (cpu_capability() == CpuCapability::F16C)
    return f16c::max_pool2d_forward_cpu(input, geometry, beta, formulation);
#endif
  return default_isa::max_pool2d_forward_cpu(input, geometry, beta, formulation);
}

at::Tensor max_pool2d_backward_cpu(const at::Tensor& grad_output, const at::Tensor& input,
                                   const at::Tensor& indices, const at::Tensor& ties,
                                   const PoolGeometry& geometry, double beta, PoolFormulation formulation) {
#ifdef TIEBREAK_CPU_F16C_KERNELS
  if (cpu_capability() == CpuCapability::F16C)
    return f16c::max_pool2d_backward_cpu(grad_output, input, indices, ties, geometry, beta, formulation);
#endif
  return default_isa::max_pool2d_backward_cpu(grad_output, input, indices, ties, geometry, beta, formulation);
}

}  // namespace tiebreak::ops
