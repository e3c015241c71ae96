#include "tiebreak/nn/tie_counter.h"

#include <ATen/ATen.h>

namespace tiebreak::nn {

void TieCounter::add_pool_call(const at::Tensor& ties) {
  if (recording()) record(ties.ge(2));
  auto tied = ties.ge(2).sum(at::kLong);
  auto max_ties =
      ties.numel() == 0 ? at::zeros({}, ties.options().dtype(at::kLong)) : ties.max().to(at::kLong);
  accumulate(ties.numel(), tied, max_ties);
}

void TieCounter::add_relu_call(const at::Tensor& input) {
  if (recording()) record(input.eq(0));
  auto zeros = input.eq(0).sum(at::kLong);
  accumulate(input.numel(), zeros, at::zeros({}, zeros.options()));
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
  std::lock_guard<std::mutex> lock(mutex_);
  recorded_.push_back(mask);
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
