// tiebreak::nn::ScopedRecordHook: a function called with each tie mask a counter records.

#include "tiebreak/nn/record_hook.h"

#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/pooling.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

namespace {

namespace tnn = tiebreak::nn;

struct Stop {};

TEST(ScopedRecordHook, SeesEachRecordedMaskWhileAlive) {
  tnn::MaxPool2d pool(tnn::MaxPool2dOptions(2));
  pool->counter()->set_counting(tnn::TieCounting::Record);
  // Window 0 has two equal maxima, window 1 a single one.
  auto x = torch::tensor({1.0f, 1.0f, 1.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.0f}).view({1, 1, 2, 4});
  std::vector<at::Tensor> seen;
  {
    tnn::ScopedRecordHook hook(*pool->counter(), [&](const at::Tensor& mask) { seen.push_back(mask); });
    pool(x);
    pool(x);
  }
  pool(x);  // the hook is gone
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(torch::equal(seen[0], torch::tensor({true, false}).view({1, 1, 1, 2})));
  EXPECT_EQ(pool->counter()->recorded().size(), 3u);
}

// A hook's exception leaves the forward; the call was counted and its mask kept before.
TEST(ScopedRecordHook, AnExceptionStopsTheForwardAfterTheCallIsCounted) {
  tnn::ReLU relu{tnn::ReLUOptions()};
  relu->counter()->set_counting(tnn::TieCounting::Record);
  tnn::ScopedRecordHook hook(*relu->counter(), [](const at::Tensor& mask) {
    if (mask.any().item<bool>()) throw Stop{};
  });
  EXPECT_NO_THROW(relu(torch::tensor({1.0, -2.0})));
  EXPECT_THROW(relu(torch::tensor({0.0, 3.0})), Stop);
  const auto stats = relu->counter()->stats();
  EXPECT_EQ(stats.calls, 2);
  EXPECT_EQ(stats.ties, 1);
  EXPECT_EQ(relu->counter()->recorded().size(), 2u);
}

TEST(ScopedRecordHook, NotCalledWhileTheCounterDoesNotRecord) {
  tnn::ReLU relu{tnn::ReLUOptions()};
  relu->counter()->set_counting(tnn::TieCounting::Count);
  int calls = 0;
  tnn::ScopedRecordHook hook(*relu->counter(), [&](const at::Tensor&) { ++calls; });
  relu(torch::tensor({0.0}));
  EXPECT_EQ(calls, 0);
}

TEST(ScopedRecordHook, OneHookPerCounterAndNoEmptyOne) {
  tnn::ReLU relu{tnn::ReLUOptions()};
  tnn::ScopedRecordHook hook(*relu->counter(), [](const at::Tensor&) {});
  EXPECT_THROW(tnn::ScopedRecordHook(*relu->counter(), [](const at::Tensor&) {}), c10::Error);
  tnn::ReLU other{tnn::ReLUOptions()};
  EXPECT_THROW(tnn::ScopedRecordHook(*other->counter(), nullptr), c10::Error);
}

}  // namespace
