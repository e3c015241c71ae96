#include "tiebreak/distributed/sync_batch_norm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace tiebreak::distributed {
namespace {

// Without a data-parallel context SyncBatchNorm must be BatchNorm exactly: forward,
// gradients and running statistics, in training and evaluation mode. (Across ranks it is
// checked against one process by DataParallel.SyncBatchNormMatchesOneProcess...)
template <typename Reference>
void expect_same_as_batch_norm(const torch::Tensor& input, Reference reference) {
  const int64_t c = input.size(1);
  SyncBatchNorm sync{torch::nn::BatchNormOptions(c)};
  torch::manual_seed(3);
  {
    torch::NoGradGuard no_grad;
    reference->weight.uniform_(0.5, 1.5);
    reference->bias.uniform_(-0.5, 0.5);
    sync->weight.copy_(reference->weight);
    sync->bias.copy_(reference->bias);
  }
  for (int step = 0; step < 3; ++step) {
    auto x1 = (input * (step + 1)).detach().requires_grad_(true);
    auto x2 = x1.detach().clone().requires_grad_(true);
    auto y1 = reference->forward(x1);
    auto y2 = sync->forward(x2);
    ASSERT_TRUE(torch::equal(y1, y2)) << "step " << step;
    (y1 * y1).sum().backward();
    (y2 * y2).sum().backward();
    EXPECT_TRUE(torch::equal(x1.grad(), x2.grad()));
    EXPECT_TRUE(torch::equal(reference->weight.grad(), sync->weight.grad()));
    EXPECT_TRUE(torch::equal(reference->bias.grad(), sync->bias.grad()));
  }
  EXPECT_TRUE(torch::equal(reference->running_mean, sync->running_mean));
  EXPECT_TRUE(torch::equal(reference->running_var, sync->running_var));
  EXPECT_EQ(reference->num_batches_tracked.template item<int64_t>(),
            sync->num_batches_tracked.item<int64_t>());
  reference->eval();
  sync->eval();
  EXPECT_TRUE(torch::equal(reference->forward(input), sync->forward(input)));
}

TEST(SyncBatchNorm, InOneProcessItIsBatchNorm2d) {
  torch::manual_seed(0);
  expect_same_as_batch_norm(torch::randn({6, 4, 5, 5}), torch::nn::BatchNorm2d(4));
}

TEST(SyncBatchNorm, InOneProcessItIsBatchNorm1d) {
  torch::manual_seed(1);
  expect_same_as_batch_norm(torch::randn({10, 7}), torch::nn::BatchNorm1d(7));
}

TEST(SyncBatchNorm, KeepsBatchNormsStateNamesForCheckpoints) {
  SyncBatchNorm sync(5);
  torch::nn::BatchNorm2d reference(5);
  std::vector<std::string> a, b;
  for (const auto& p : sync->named_parameters()) a.push_back(p.key());
  for (const auto& p : sync->named_buffers()) a.push_back(p.key());
  for (const auto& p : reference->named_parameters()) b.push_back(p.key());
  for (const auto& p : reference->named_buffers()) b.push_back(p.key());
  EXPECT_EQ(a, b);
}

TEST(SyncBatchNorm, WrongChannelCountIsAnError) {
  SyncBatchNorm sync(3);
  try {
    sync->forward(torch::zeros({2, 4, 2, 2}));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("SyncBatchNorm(3): expected input [N, 3, ...]"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace tiebreak::distributed
