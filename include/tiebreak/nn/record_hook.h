#pragma once

#include "tiebreak/nn/tie_counter.h"

#include <ATen/core/Tensor.h>

#include <functional>

namespace tiebreak::nn {

/// While alive, calls `hook` with each tie mask `counter` records (TieCounting::Record), right after
/// the call is counted and its mask kept, on the forward's thread. An exception the hook throws propagates
/// out of the layer's forward: a caller can stop a forward pass as soon as the masks seen so far decide
/// what it was run for (zones::ZoneProbe's fp64 pass). One hook per counter at a time; the counter must
/// outlive the hook. Errors: an empty `hook`, or a counter that already has one.
///
/// Example:
/// ```
/// pool->counter()->set_counting(TieCounting::Record);
/// ScopedRecordHook hook(*pool->counter(), [](const at::Tensor& mask) {
///   if (mask.any().item<bool>()) throw FoundATie{};
/// });
/// ```
class ScopedRecordHook {
 public:
  ScopedRecordHook(TieCounter& counter, std::function<void(const at::Tensor& mask)> hook);
  ~ScopedRecordHook();
  ScopedRecordHook(ScopedRecordHook&& other) noexcept;
  ScopedRecordHook(const ScopedRecordHook&) = delete;
  ScopedRecordHook& operator=(const ScopedRecordHook&) = delete;
  ScopedRecordHook& operator=(ScopedRecordHook&&) = delete;

 private:
  TieCounter* counter_;
};

}  // namespace tiebreak::nn
