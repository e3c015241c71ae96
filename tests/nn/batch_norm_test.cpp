// The one BatchNorm the models build: without a statistics reduction it must be torch::nn::BatchNorm1d/2d
// bit for bit (forward, gradients, running statistics, state names), so that models built with it train
// exactly as they did with torch's. The reduction across real ranks is tested in
// tests/distributed/sync_batch_norm_test.cpp.
#include "tiebreak/nn/modules/batch_norm.h"

#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

namespace tiebreak::nn {
namespace {

using ::testing::HasSubstr;
using tiebreak::testing::error_message;

/// Replicas that all hold this replica's batch: the sum over them is `replicas` times the local value.
class IdenticalReplicas final : public BatchStatisticsReduction {
 public:
  explicit IdenticalReplicas(int64_t replicas) : replicas_(replicas) {}
  int64_t replicas() const override { return replicas_; }
  torch::Tensor sum(const torch::Tensor& local) const override {
    return local * static_cast<double>(replicas_);
  }
  std::string describe() const override { return std::to_string(replicas_) + " identical replicas"; }

 private:
  int64_t replicas_;
};

template <typename Reference>
void copy_affine(Reference& reference, BatchNorm& bn) {
  torch::NoGradGuard no_grad;
  reference->weight.uniform_(0.5, 1.5);
  reference->bias.uniform_(-0.5, 0.5);
  bn->weight.copy_(reference->weight);
  bn->bias.copy_(reference->bias);
}

// Three training steps (output, input/weight/bias gradients) and evaluation, compared with torch::equal.
template <typename Reference>
void expect_same_as_torch(const torch::Tensor& input, Reference reference, BatchNorm bn) {
  torch::manual_seed(3);
  copy_affine(reference, bn);
  for (int step = 0; step < 3; ++step) {
    auto x1 = (input * (step + 1)).detach().requires_grad_(true);
    auto x2 = x1.detach().clone().requires_grad_(true);
    auto y1 = reference->forward(x1);
    auto y2 = bn->forward(x2);
    ASSERT_TRUE(torch::equal(y1, y2)) << "step " << step;
    (y1 * y1).sum().backward();
    (y2 * y2).sum().backward();
    EXPECT_TRUE(torch::equal(x1.grad(), x2.grad())) << "step " << step;
    EXPECT_TRUE(torch::equal(reference->weight.grad(), bn->weight.grad())) << "step " << step;
    EXPECT_TRUE(torch::equal(reference->bias.grad(), bn->bias.grad())) << "step " << step;
  }
  if (reference->options.track_running_stats()) {
    EXPECT_TRUE(torch::equal(reference->running_mean, bn->running_mean));
    EXPECT_TRUE(torch::equal(reference->running_var, bn->running_var));
    EXPECT_EQ(reference->num_batches_tracked.template item<int64_t>(),
              bn->num_batches_tracked.item<int64_t>());
  }
  reference->eval();
  bn->eval();
  EXPECT_TRUE(torch::equal(reference->forward(input), bn->forward(input)));
}

TEST(BatchNorm, IsTorchBatchNorm2dBitForBit) {
  torch::manual_seed(0);
  expect_same_as_torch(torch::randn({6, 4, 5, 5}), torch::nn::BatchNorm2d(4), BatchNorm(4));
}

TEST(BatchNorm, IsTorchBatchNorm1dBitForBit) {
  torch::manual_seed(1);
  expect_same_as_torch(torch::randn({10, 7}), torch::nn::BatchNorm1d(7), BatchNorm(7));
}

TEST(BatchNorm, IsTorchBatchNorm2dBitForBitOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device here";
  torch::manual_seed(7);
  torch::nn::BatchNorm2d reference(4);
  BatchNorm bn(4);
  reference->to(torch::kCUDA);
  bn->to(torch::kCUDA);
  expect_same_as_torch(torch::randn({6, 4, 5, 5}).cuda(), reference, bn);
}

TEST(BatchNorm, FollowsTheOptionsAsTorchDoes) {
  // Cumulative average (momentum unset), and no running statistics at all.
  torch::manual_seed(2);
  const auto x = torch::randn({5, 3, 4, 4});
  const auto cumulative = torch::nn::BatchNormOptions(3).momentum(std::nullopt).eps(1e-3);
  expect_same_as_torch(x, torch::nn::BatchNorm2d(cumulative), BatchNorm(cumulative));
  const auto untracked = torch::nn::BatchNormOptions(3).track_running_stats(false);
  expect_same_as_torch(x, torch::nn::BatchNorm2d(untracked), BatchNorm(untracked));
}

TEST(BatchNorm, OneReplicaIsNoReduction) {
  torch::manual_seed(4);
  BatchNorm bn(4);
  bn->set_statistics_reduction(std::make_shared<IdenticalReplicas>(1));
  expect_same_as_torch(torch::randn({6, 4, 3, 3}), torch::nn::BatchNorm2d(4), bn);
}

TEST(BatchNorm, KeepsTorchsStateNamesAndOrderForCheckpoints) {
  BatchNorm bn(5);
  torch::nn::BatchNorm2d reference(5);
  std::vector<std::string> a, b;
  for (const auto& p : bn->named_parameters()) a.push_back(p.key());
  for (const auto& p : bn->named_buffers()) a.push_back(p.key());
  for (const auto& p : reference->named_parameters()) b.push_back(p.key());
  for (const auto& p : reference->named_buffers()) b.push_back(p.key());
  EXPECT_EQ(a, b);
  // A reduction changes no state.
  bn->set_statistics_reduction(std::make_shared<IdenticalReplicas>(2));
  std::vector<std::string> c;
  for (const auto& p : bn->named_parameters()) c.push_back(p.key());
  for (const auto& p : bn->named_buffers()) c.push_back(p.key());
  EXPECT_EQ(c, b);
}

TEST(BatchNorm, ReducedStatisticsAreThoseOfAllReplicasBatches) {
  // Two replicas with the same batch: the global batch is the batch twice, so the normalized output is
  // the local one (same mean and biased variance), while the running variance takes the unbiased variance
  // of 2N values, not of N.
  torch::manual_seed(5);
  const auto x = torch::randn({4, 3, 2, 2}, torch::kDouble);
  BatchNorm reduced(3), local(3);
  reduced->to(torch::kDouble);
  local->to(torch::kDouble);
  reduced->set_statistics_reduction(std::make_shared<IdenticalReplicas>(2));
  const auto y = reduced->forward(x);
  EXPECT_TRUE(torch::allclose(y, local->forward(x), 1e-12, 1e-12));
  const double n = 16;  // values per channel in one replica
  const auto biased = x.var({0, 2, 3}, /*unbiased=*/false);
  EXPECT_TRUE(
      torch::allclose(reduced->running_var, 0.9 + 0.1 * biased * (2 * n / (2 * n - 1)), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(local->running_var, 0.9 + 0.1 * biased * (n / (n - 1)), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(reduced->running_mean, local->running_mean, 1e-12, 1e-12));
  // Evaluation never reduces.
  reduced->eval();
  local->eval();
  local->running_mean.copy_(reduced->running_mean);
  local->running_var.copy_(reduced->running_var);
  EXPECT_TRUE(torch::equal(reduced->forward(x), local->forward(x)));
}

TEST(BatchNorm, ErrorsNameTheLayerAndWhatWasExpected) {
  BatchNorm bn(3);
  EXPECT_THAT(error_message([&] {
                bn->forward(torch::zeros({2, 4, 2, 2}));
              }),
              HasSubstr("BatchNorm(3): expected input [N, 3, ...], got [2, 4, 2, 2]"));
  EXPECT_THAT(error_message([&] {
                bn->forward(torch::zeros({1, 3}));
              }),
              HasSubstr("Expected more than 1 value per channel when training"));
  bn->set_statistics_reduction(std::make_shared<IdenticalReplicas>(1));
  bn->set_statistics_reduction(nullptr);
  EXPECT_EQ(bn->statistics_reduction(), nullptr);
}

TEST(BatchNorm, PrintsItsOptionsAndItsReduction) {
  BatchNorm bn(torch::nn::BatchNormOptions(8).momentum(std::nullopt));
  std::ostringstream plain;
  bn->pretty_print(plain);
  EXPECT_EQ(plain.str(),
            "tiebreak::nn::BatchNorm(8, eps=1e-05, momentum=None, affine=true, track_running_stats=true)");
  bn->set_statistics_reduction(std::make_shared<IdenticalReplicas>(2));
  std::ostringstream reduced;
  bn->pretty_print(reduced);
  EXPECT_THAT(reduced.str(), HasSubstr(", synchronized over 2 identical replicas)"));
}

TEST(BatchNorm, ClonesShareTheReductionAndCopyTheState) {
  torch::manual_seed(6);
  BatchNorm bn(3);
  auto reduction = std::make_shared<IdenticalReplicas>(2);
  bn->set_statistics_reduction(reduction);
  bn->forward(torch::randn({4, 3}));
  auto copy = std::dynamic_pointer_cast<BatchNormImpl>(bn->clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->statistics_reduction(), reduction);
  EXPECT_TRUE(torch::equal(copy->running_mean, bn->running_mean));
  EXPECT_NE(copy->running_mean.data_ptr(), bn->running_mean.data_ptr());
}

}  // namespace
}  // namespace tiebreak::nn
