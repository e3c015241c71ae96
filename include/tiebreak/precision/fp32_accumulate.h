#pragma once

// 16-bit training at fp32-arithmetic speed on the CPU, with the 16-bit
// semantics intact (issue 14 §1; docs/training.md, "Half precision on the CPU").

#include <c10/core/DispatchKey.h>

#include <string>
#include <vector>

namespace tiebreak::precision {

/// While alive, and on this thread only, the expensive operations on Half and
/// BFloat16 CPU tensors — `aten::convolution` (every conv1d/2d/3d and
/// transposed convolution), `aten::linear`, `matmul`, `mm`, `addmm`, `bmm`,
/// `baddbmm` and `aten::batch_norm` — compute in float on the 16-bit values and
/// round each result once to the 16-bit type: the forward output and, because
/// the casts are recorded by autograd, each backward product (grad input, grad
/// weight, grad bias) of the float computation. This is the arithmetic of a
/// 16-bit GEMM/convolution with fp32 accumulation, which LibTorch's own CPU
/// Half kernels also use (`fp16_dot_with_fp32_arith`), but on the fast float
/// kernels (oneDNN/MKL) instead of the slow reference loops: 10-30× faster on
/// CPUs without AVX-512-FP16. Everything else — parameters, activations,
/// gradients, optimizer state, tiebreak's β-pool and ReLU operators, the loss —
/// stays in the 16-bit type, computed by its usual kernel: no master weights,
/// no loss scaling. Running statistics of batch norm stay 16-bit (updated in
/// float, rounded once, as LibTorch's Half kernel does).
///
/// Operations on other dtypes, on CUDA tensors (whose 16-bit kernels already
/// accumulate in fp32 at full speed), or with mixed argument dtypes that the
/// native kernel would reject go to the native kernel unchanged. Backward needs
/// no guard: the graph recorded in the forward holds the float operations.
/// Composes with autocast (the autocast-cast 16-bit operands are intercepted
/// in turn), so `amp_fp16` on the CPU gets the same treatment.
///
/// Mechanism: like autocast, a dispatch key above Autograd that the guard adds
/// to the thread's included keys. LibTorch reserves no key for user modes in
/// C++, so tiebreak borrows `AutocastIPU` (no kernel of PyTorch 2.11 is
/// registered on it; only Graphcore's discontinued PopTorch used it). The
/// kernels are registered at the first engagement; if another library already
/// registered on that key the guard fails with a one-line error instead.
/// `at::autocast::is_autocast_enabled(at::kIPU)` reads true while engaged.
///
/// With `bf16_products_native`, BFloat16 convolution and matrix products go to
/// LibTorch's own kernels instead: on a CPU with BF16 dot-product units
/// (AVX512-BF16, AMX-BF16) oneDNN computes them with the same arithmetic (exact
/// BF16 products, float accumulation, one rounding) and faster than the float
/// kernels; batch norm and every Half operation are still widened. train's
/// `half_compute=auto` sets it on such CPUs (train::choose_half_compute).
///
/// A disengaged guard (`enabled` false) does nothing.
///
/// Example:
/// ```
/// model->to(torch::kHalf);
/// {
///   tiebreak::precision::Fp32AccumulateGuard fp32_accumulate;
///   loss = torch::nn::functional::cross_entropy(model->forward(x.to(torch::kHalf)), y);
/// }
/// loss.backward();  // conv/linear products computed in float, rounded once to half
/// ```
class Fp32AccumulateGuard {
 public:
  explicit Fp32AccumulateGuard(bool enabled = true, bool bf16_products_native = false);
  ~Fp32AccumulateGuard();
  Fp32AccumulateGuard(const Fp32AccumulateGuard&) = delete;
  Fp32AccumulateGuard& operator=(const Fp32AccumulateGuard&) = delete;

 private:
  bool engaged_ = false;
  bool previous_included_ = false;
  bool previous_excluded_ = true;
  bool previous_bf16_products_native_ = false;
};

/// Whether a Fp32AccumulateGuard is engaged on this thread.
bool fp32_accumulate_enabled();

/// Whether a Fp32AccumulateGuard engaged on this thread sends BFloat16
/// convolution and matrix products to LibTorch's own kernels.
bool bf16_products_native_enabled();
/// The operators the guard intercepts, as "aten::name".
std::vector<std::string> fp32_accumulate_operators();

/// The dispatch key the guard's kernels are registered on.
c10::DispatchKey fp32_accumulate_dispatch_key();

namespace detail {
/// Registers the kernels once (thread-safe); throws if the key is taken.
void ensure_fp32_accumulate_registered();
}  // namespace detail

}  // namespace tiebreak::precision
