#pragma once

// Private to src/zones: what lets the zone probe's fp64 forward run on a few rows of a mini-batch.

#include <cstdint>
#include <string>

namespace tiebreak::zones::detail {

/// Watches the operators a forward pass calls on this thread (through at::RecordFunction) and tells
/// whether, so far, row r of every result (index r along dimension 0) has the bits it would have in the
/// same forward of the whole batch: whether every operator called at the top level (not from inside
/// another one) is one whose CPU kernels compute rows apart, the same way whatever the batch size, and
/// returns tensors that keep the `rows` rows. Those are the exact elementwise maps (ReLU, clamps,
/// thresholds, multiplication, division, addition without a scale), the convolutions (LibTorch's float64
/// CPU convolution is a loop of per-sample products), the poolings (LibTorch's and tiebreak's, with their
/// tie counting) and the views that keep dimension 0; tests/zones/row_separability_test.cpp checks their
/// bits at 1 and 2 threads. Not: matrix products (MKL blocks them by the row count: one row of a float64
/// `linear` differs in the last bits from the same row in a batch), batch normalization in training
/// (batch statistics), dropout (its random numbers are drawn for the whole tensor), transcendental
/// elementwise maps (their vectorized loop and scalar tail round differently, so a row's bits depend on
/// where it sits), reductions or any operator not named here.
///
/// Only for CPU tensors: on CUDA the convolution algorithms depend on the batch. One observer per thread
/// at a time; it installs a thread-local callback while alive. With at::RecordFunction disabled on the
/// thread it is never separable().
///
/// Example:
/// ```
/// RowSeparabilityObserver observer(rows.numel());
/// auto out = model.forward(inputs.index_select(0, rows));
/// if (!observer.separable() || observer.observed() == 0) out = model.forward(inputs).index_select(0, rows);
/// ```
class RowSeparabilityObserver {
 public:
  explicit RowSeparabilityObserver(int64_t rows);
  ~RowSeparabilityObserver();
  RowSeparabilityObserver(const RowSeparabilityObserver&) = delete;
  RowSeparabilityObserver& operator=(const RowSeparabilityObserver&) = delete;

  /// Whether every top-level operator so far kept the rows apart.
  bool separable() const { return violation_.empty(); }
  /// The top-level operators seen so far, tie counting aside (up to the first violation): none means the
  /// observer saw nothing to vouch for.
  int64_t observed() const { return observed_; }
  /// The first operator that did not ("" while separable()), e.g. "aten::sum", or
  /// "aten::flatten returned 1152 rows, expected 4".
  const std::string& violation() const { return violation_; }

 private:
  struct Callbacks;
  int64_t rows_;
  int64_t depth_ = 0;
  int64_t observed_ = 0;
  std::string violation_;
  uint64_t handle_ = 0;
};

}  // namespace tiebreak::zones::detail
