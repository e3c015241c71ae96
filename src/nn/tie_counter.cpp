#include "tiebreak/nn/tie_counter.h"

#include "tiebreak/nn/record_hook.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <unordered_map>
#include <utility>

namespace tiebreak::nn {
namespace {

// The hooks live beside the counters rather than in them: a hook is rare (zones::ZoneProbe's reference
// network sets one for the length of one forward), and a counter without one pays a lookup only while it
// records.
std::mutex hooks_mutex;
std::unordered_map<const TieCounter*, std::function<void(const at::Tensor&)>>& hooks() {
  static std::unordered_map<const TieCounter*, std::function<void(const at::Tensor&)>> map;
  return map;
}

void call_record_hook(const TieCounter& counter, const at::Tensor& mask) {
  std::function<void(const at::Tensor&)> hook;
  {
    std::lock_guard<std::mutex> lock(hooks_mutex);
    auto& map = hooks();
    if (map.empty()) return;
    auto found = map.find(&counter);
    if (found == map.end()) return;
    hook = found->second;
  }
  hook(mask);
}

}  // namespace

ScopedRecordHook::ScopedRecordHook(TieCounter& counter, std::function<void(const at::Tensor& mask)> hook)
    : counter_(&counter) {
  TORCH_CHECK(hook, "nn::ScopedRecordHook: expected a function, got an empty one");
  std::lock_guard<std::mutex> lock(hooks_mutex);
  const bool inserted = hooks().emplace(counter_, std::move(hook)).second;
  TORCH_CHECK(inserted, "nn::ScopedRecordHook: the counter already has a record hook");
}

ScopedRecordHook::~ScopedRecordHook() {
  if (counter_ == nullptr) return;
  std::lock_guard<std::mutex> lock(hooks_mutex);
  hooks().erase(counter_);
}

ScopedRecordHook::ScopedRecordHook(ScopedRecordHook&& other) noexcept
    : counter_(std::exchange(other.counter_, nullptr)) {}

// Each call is counted before its mask is recorded, so that a record hook that throws leaves the counts
// complete.
void TieCounter::add_pool_call(const at::Tensor& ties) {
  RECORD_USER_SCOPE(kRecordScope);
  auto mask = ties.ge(2);
  auto max_ties =
      ties.numel() == 0 ? at::zeros({}, ties.options().dtype(at::kLong)) : ties.max().to(at::kLong);
  accumulate(ties.numel(), mask.sum(at::kLong), max_ties);
  if (recording()) record(mask);
}

void TieCounter::add_relu_call(const at::Tensor& input) {
  RECORD_USER_SCOPE(kRecordScope);
  auto mask = input.eq(0);
  auto zeros = mask.sum(at::kLong);
  accumulate(input.numel(), zeros, at::zeros({}, zeros.options()));
  if (recording()) record(mask);
}

void TieCounter::accumulate(int64_t points, const at::Tensor& ties, const at::Tensor& max_ties) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++calls_;
  points_ += points;
  if (!ties_.defined() || ties_.device() != ties.device()) {
    // First call, or the model moved: fold what was counted so far onto the new device.
    ties_ = ties_.defined() ? ties_.to(ties.device()) + ties : ties.clone();
    max_ties_ =
        max_ties_.defined() ? at::maximum(max_ties_.to(max_ties.device()), max_ties) : max_ties.clone();
  } else {
    ties_.add_(ties);
    max_ties_ = at::maximum(max_ties_, max_ties);
  }
}

void TieCounter::record(const at::Tensor& mask) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    recorded_.push_back(mask);
  }
  // Outside the lock: the hook may read the counter, or throw.
  call_record_hook(*this, mask);
}

std::vector<at::Tensor> TieCounter::recorded() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return recorded_;
}

std::vector<at::Tensor> TieCounter::take_recorded() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<at::Tensor> taken;
  taken.swap(recorded_);
  return taken;
}

TieStats TieCounter::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  TieStats s;
  s.calls = calls_;
  s.points = points_;
  s.ties = ties_.defined() ? ties_.item<int64_t>() : 0;
  s.max_ties = max_ties_.defined() ? max_ties_.item<int64_t>() : 0;
  return s;
}

void TieCounter::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  calls_ = 0;
  points_ = 0;
  ties_ = at::Tensor();
  max_ties_ = at::Tensor();
  recorded_.clear();
}

}  // namespace tiebreak::nn
