#pragma once

// How far the fp32-accumulate path is from LibTorch's own 16-bit kernels, per
// operation and layer (issue 14 §1; BENCHMARKS.md, "Half precision on the CPU").

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace tiebreak::precision {

namespace detail {
class ProbeState;
}  // namespace detail

/// ulp_distance's value where exactly one of the two elements is NaN.
constexpr int64_t kNanMismatch = std::numeric_limits<int32_t>::max();

/// Per element, how many representable values of the 16-bit format lie
/// between `a` and `b` (0: equal, +0 and −0 equal, both NaN equal; 1: adjacent;
/// kNanMismatch where exactly one is NaN). `a` and `b`: same shape, both Half or
/// both BFloat16. Returns int64, shaped like `a`.
at::Tensor ulp_distance(const at::Tensor& a, const at::Tensor& b);

/// Per element, |x − reference| in units in the last place of x's 16-bit
/// format at `reference` (2^(max(e, emin) − p + 1) for reference ∈ [2^e, 2^(e+1)),
/// p = 11 for Half, 8 for BFloat16): a correctly rounded x has error ≤ 0.5.
/// `x`: Half or BFloat16; `reference`: any floating dtype, same shape (usually
/// the fp64 computation on the same 16-bit inputs). +inf where exactly one is
/// not finite or they are infinities of opposite sign; 0 where both are NaN or
/// equal infinities. Returns double, shaped like `x`.
at::Tensor ulp_error(const at::Tensor& x, const at::Tensor& reference);

/// One result of one intercepted operator at one layer, LibTorch's 16-bit
/// kernel ("native") against the fp32-accumulate path, both on the same 16-bit
/// operands, and each against the fp64 computation on those operands.
struct ProductComparison {
  /// "convolution", "linear", "batch_norm", ...
  std::string op;
  /// The module owning the operator's parameter (e.g. "features.conv1"), or
  /// "<op>#k" for the k-th call (from 1) of a parameterless call in a pass.
  std::string layer;
  /// "output", or "grad_<argument>" (grad_input, grad_weight, grad_bias,
  /// grad_self, grad_mat2, ...), named after the operator schema's arguments.
  std::string product;
  /// "Half" or "BFloat16".
  std::string dtype;
  int64_t calls = 0;
  int64_t elements = 0;
  /// Elements where native and fp32-accumulate differ (ulp distance > 0).
  int64_t differing = 0;
  /// Largest ulp_distance(native, fp32_accumulate); kNanMismatch if one is NaN where the other is not.
  int64_t max_ulp_distance = 0;
  /// Largest ulp_error against fp64 of each path (finite elements of the reference).
  double native_max_error = 0;
  double fp32_accumulate_max_error = 0;
};

/// Measures, operator by operator, LibTorch's native 16-bit kernels against
/// the fp32-accumulate path. While a Scope from `engage()` is alive, on this
/// thread, every call that Fp32AccumulateGuard would widen runs LibTorch's
/// native 16-bit kernel — the network continues on the native path — and is
/// also computed by the fp32-accumulate path and in fp64 on detached copies of
/// the same operands. The forward results are compared at once; the backward
/// products (each operand that requires grad) when the native result's
/// gradient arrives, by a hook that differentiates the three computations with
/// that same gradient, so run backward after the scope ends (backward ops
/// would otherwise be measured too). A measurement tool (three extra forward
/// and backward computations per operator), not for training. Layers are
/// named from `model`'s parameters.
///
/// Example:
/// ```
/// model->to(torch::kHalf);
/// Fp32AccumulateProbe probe(*model);
/// at::Tensor loss;
/// {
///   auto scope = probe.engage();
///   loss = torch::nn::functional::cross_entropy(model->forward(x), y);
/// }
/// loss.backward();
/// for (const auto& c : probe.comparisons())
///   std::cout << c.layer << " " << c.product << " " << c.max_ulp_distance << "\n";
/// ```
class Fp32AccumulateProbe {
 public:
  explicit Fp32AccumulateProbe(const torch::nn::Module& model);
  /// Layers named "<op>#k" only.
  Fp32AccumulateProbe();

  /// Engages the probe on this thread for the Scope's lifetime.
  class Scope {
   public:
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    friend class Fp32AccumulateProbe;
    explicit Scope(detail::ProbeState* state);
    bool previous_included_ = false;
    bool previous_excluded_ = true;
    detail::ProbeState* previous_probe_ = nullptr;
  };
  Scope engage();

  /// One row per (layer, op, product) seen so far, in first-seen order;
  /// backward rows appear once backward has run.
  std::vector<ProductComparison> comparisons() const;

 private:
  std::shared_ptr<detail::ProbeState> state_;
};

/// Folds `row` into `rows` (the row of the same layer, op and product: counts
/// summed, maxima kept), appending it if new.
void merge_comparison(std::vector<ProductComparison>& rows, const ProductComparison& row);

}  // namespace tiebreak::precision
