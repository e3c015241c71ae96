#include "zones/row_separability.h"

#include "tiebreak/nn/tie_counter.h"

#include <ATen/core/Tensor.h>
#include <ATen/record_function.h>
#include <c10/util/Exception.h>

#include <string_view>
#include <unordered_set>

namespace tiebreak::zones::detail {
namespace {

thread_local RowSeparabilityObserver* active = nullptr;

// Operators whose CPU kernels compute each row of their results from the same row of their tensor inputs
// (parameters broadcast) with the same bits wherever the row sits in the batch. Elementwise maps qualify
// only when their vectorized main loop and scalar tail round alike: exact operations (comparisons,
// selections, one IEEE multiplication or division or addition), not Sleef's transcendental functions
// (sigmoid, tanh, GELU, ...), whose tail is std::'s.
bool keeps_rows_apart(std::string_view name) {
  static const std::unordered_set<std::string_view> names = {
      // Exact elementwise maps.
      "aten::mul", "aten::mul_", "aten::div", "aten::div_", "aten::relu", "aten::relu_", "aten::threshold",
      "aten::threshold_", "aten::leaky_relu", "aten::leaky_relu_", "aten::hardtanh", "aten::hardtanh_",
      "aten::clamp", "aten::clamp_", "aten::clamp_min", "aten::clamp_min_", "tiebreak::relu",
      // Convolutions: on the CPU in float64, a loop over the samples (LibTorch's slow_conv2d).
      "aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::convolution", "aten::_convolution",
      // Poolings, plane by plane.
      "aten::max_pool2d", "aten::max_pool2d_with_indices", "aten::avg_pool2d", "aten::adaptive_avg_pool2d",
      "aten::adaptive_max_pool2d", "tiebreak::max_pool2d", "tiebreak::max_pool2d_with_ties",
      "tiebreak::norm_pool2d",
      // Views and copies (whether they keep dimension 0 is checked on their results).
      "aten::view", "aten::reshape", "aten::_unsafe_view", "aten::flatten", "aten::contiguous",
      "aten::detach", "aten::alias", "aten::clone",
      // The tie counters' statistics, which the forward's results do not read.
      nn::TieCounter::kRecordScope};
  return names.count(name) > 0;
}

// An addition is exact unless it scales its second operand (alpha): the vectorized loop fuses that
// multiplication into the addition, the scalar tail rounds twice.
bool is_plain_addition(const at::RecordFunction& fn) {
  const std::string_view name = fn.name();
  if (name != "aten::add" && name != "aten::add_") return false;
  const auto inputs = fn.inputs();
  return inputs.size() < 3 || (inputs[2].isScalar() && inputs[2].toScalar().equal(1));
}

}  // namespace

struct RowSeparabilityObserver::Callbacks {
  static std::unique_ptr<at::ObserverContext> start(const at::RecordFunction& fn) {
    auto* self = active;
    if (self == nullptr) return nullptr;
    if (self->depth_++ != 0 || !self->separable()) return nullptr;
    if (std::string_view(fn.name()) != nn::TieCounter::kRecordScope) ++self->observed_;
    if (!keeps_rows_apart(fn.name()) && !is_plain_addition(fn)) self->violation_ = fn.name();
    return nullptr;
  }

  static void end(const at::RecordFunction& fn, at::ObserverContext*) {
    auto* self = active;
    if (self == nullptr || --self->depth_ != 0 || !self->separable()) return;
    for (const auto& output : fn.outputs()) {
      if (!output.isTensor()) continue;
      const auto& t = output.toTensor();
      if (!t.defined()) continue;
      const int64_t rows = t.dim() == 0 ? 1 : t.size(0);
      if (t.dim() == 0 || rows != self->rows_) {
        self->violation_ = std::string(fn.name()) + " returned " +
                           (t.dim() == 0 ? std::string("a scalar") : std::to_string(rows) + " rows") +
                           ", expected " + std::to_string(self->rows_);
        return;
      }
    }
  }
};

RowSeparabilityObserver::RowSeparabilityObserver(int64_t rows) : rows_(rows) {
  TORCH_CHECK(active == nullptr, "RowSeparabilityObserver: this thread already has one");
  TORCH_CHECK(rows > 0, "RowSeparabilityObserver: expected a positive row count, got ", rows);
  // Blind, it could not vouch for anything.
  if (!at::isRecordFunctionEnabled()) violation_ = "at::RecordFunction is disabled on this thread";
  handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(&Callbacks::start, &Callbacks::end)
                                           .needsInputs(true)
                                           .needsOutputs(true)
                                           .scopes({at::RecordScope::FUNCTION, at::RecordScope::USER_SCOPE}));
  active = this;
}

RowSeparabilityObserver::~RowSeparabilityObserver() {
  at::removeCallback(handle_);
  active = nullptr;
}

}  // namespace tiebreak::zones::detail
