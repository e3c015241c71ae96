// SyncBatchNorm by conversion (distributed::convert_sync_batch_norm): a model built as usual and converted
// afterwards, trained on two Gloo ranks (two threads of this process, each with its own process group),
// must compute what one process computes on the whole batch; unconverted, each rank normalizes by its own
// half, which is another computation. `tiebreak train` with exp.distributed.sync_batch_norm is checked
// against one process by DataParallel.SyncBatchNormMatchesOneProcessWherePerRankStatisticsDoNot.
#include "tiebreak/distributed/sync_batch_norm.h"

#include "tiebreak/distributed/process_group.h"
#include "tiebreak/models/registry.h"
#include "tiebreak/nn/modules/batch_norm.h"

#include "distributed/ranks.h"
#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <c10/util/accumulate.h>

#include <thread>

namespace tiebreak::distributed {
namespace {

using ::testing::HasSubstr;
using tiebreak::testing::error_message;

constexpr int64_t kWorld = 2;

struct Case {
  models::ModelOptions options;
  std::vector<int64_t> batch_shape;  // the global batch
  int64_t batch_norms;
};

std::vector<Case> cases() {
  // LeNet5 holds BatchNorm in Sequentials ([N, C, H, W] and [N, C]); ResNet18 as typed block members, in the
  // stem and in the downsample Sequentials.
  return {{models::ModelOptions("lenet5").batch_norm(true).in_channels(1).image_size(28).seed(3),
           {8, 1, 28, 28},
           4},
          {models::ModelOptions("resnet18").batch_norm(true).image_size(16).seed(4), {8, 3, 16, 16}, 20}};
}

/// The case's global batch: the first values of `values`, shaped.
torch::Tensor batch(const torch::Tensor& values, const Case& c) {
  const int64_t n = c10::multiply_integers(c.batch_shape);
  return values.narrow(0, 0, n).view(c.batch_shape);
}

/// One training step's results: the output, the input's gradient, the parameters' gradients, the buffers.
struct Step {
  torch::Tensor output, input_grad;
  std::vector<torch::Tensor> grads, buffers;
};

/// Forward and backward of a loss linear in the output (so the global loss is the sum of the ranks' losses),
/// on the model's device; the results come back on the CPU.
Step step(torch::nn::AnyModule& model, const torch::Tensor& input, const torch::Tensor& weights,
          c10::Device device) {
  Step s;
  // A copy: on the CPU to() would return `input` itself, whose gradient the next step would add to.
  auto x = input.to(device).clone().requires_grad_(true);
  const auto output = model.forward<torch::Tensor>(x);
  (output * weights.to(device)).sum().backward();
  s.output = output.detach().cpu();
  s.input_grad = x.grad().cpu().clone();
  for (const auto& p : model.ptr()->parameters()) s.grads.push_back(p.grad().cpu().clone());
  for (const auto& b : model.ptr()->buffers()) s.buffers.push_back(b.cpu().clone());
  return s;
}

torch::nn::AnyModule build(const models::ModelOptions& options, c10::Device device) {
  auto model = models::make_model(options);
  model.ptr()->to(device, torch::kDouble);
  model.ptr()->train();
  return model;
}

/// The model's parameters and buffers by name, in order.
std::vector<std::pair<std::string, torch::Tensor>> state(const torch::nn::Module& model) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : model.named_parameters()) named.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : model.named_buffers()) named.emplace_back(b.key(), b.value().clone());
  return named;
}

bool same(const std::vector<std::pair<std::string, torch::Tensor>>& a,
          const std::vector<std::pair<std::string, torch::Tensor>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || !torch::equal(a[i].second, b[i].second)) return false;
  return true;
}

/// What each rank saw, filled by its thread.
struct RankResult {
  std::vector<Step> converted, unconverted;
  std::vector<int64_t> counts;
  /// Whether the state's names and values (what a checkpoint holds) were the same after conversion.
  std::vector<bool> same_state;
  std::string torch_batch_norm_error;
  std::string error;
};

void run_rank(int64_t rank, int port, c10::Device device, const torch::Tensor& input,
              const torch::Tensor& weights, RankResult& result) {
  try {
    LaunchInfo launch;
    launch.launcher = Launcher::Torchrun;
    launch.rank = rank;
    launch.world_size = kWorld;
    launch.local_rank = rank;
    launch.master_addr = "127.0.0.1";
    launch.master_port = port;
    auto ctx = std::make_shared<DistributedContext>(
        launch, device, ProcessGroupOptions().backend("gloo").timeout(std::chrono::seconds(60)));
    for (const auto& c : cases()) {
      const int64_t half = c.batch_shape[0] / kWorld;
      const auto x = batch(input, c).narrow(0, rank * half, half);
      const auto w = weights.narrow(0, rank * half, half);
      auto model = build(c.options, device);
      const auto before = state(*model.ptr());
      result.counts.push_back(convert_sync_batch_norm(*model.ptr(), ctx));
      result.same_state.push_back(same(before, state(*model.ptr())));
      result.converted.push_back(step(model, x, w, device));
      auto plain = build(c.options, device);
      result.unconverted.push_back(step(plain, x, w, device));
    }
    torch::nn::Sequential torch_bn(torch::nn::Conv2d(1, 2, 3), torch::nn::BatchNorm2d(2));
    result.torch_batch_norm_error = error_message([&] { convert_sync_batch_norm(*torch_bn, ctx); });
    ctx->barrier();
  } catch (const std::exception& e) {
    result.error = e.what();
  }
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

/// Two Gloo ranks (threads of this process) training converted models on `device` against one process.
void expect_two_ranks_equal_one_process(c10::Device device) {
  torch::manual_seed(0);
  // Enough values for the largest case; each case views its prefix.
  const auto input = torch::randn({8 * 3 * 28 * 28}, torch::kDouble);
  const auto weights = torch::randn({8, 10}, torch::kDouble);
  std::vector<RankResult> ranks(kWorld);
  const int port = testing::free_port();
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < kWorld; ++r)
    threads.emplace_back(run_rank, r, port, device, std::cref(input), std::cref(weights), std::ref(ranks[r]));
  for (auto& t : threads) t.join();
  for (int64_t r = 0; r < kWorld; ++r) ASSERT_EQ(ranks[r].error, "") << "rank " << r;

  const auto all = cases();
  for (size_t k = 0; k < all.size(); ++k) {
    const auto& c = all[k];
    SCOPED_TRACE(c.options.name());
    auto model = build(c.options, device);
    const Step single = step(model, batch(input, c), weights, device);
    for (int64_t r = 0; r < kWorld; ++r) {
      EXPECT_EQ(ranks[r].counts[k], c.batch_norms);
      EXPECT_TRUE(ranks[r].same_state[k]) << "conversion changed the state of rank " << r;
    }
    const auto& a = ranks[0].converted[k];
    const auto& b = ranks[1].converted[k];
    // Double precision, another summation order: agreement to ~1e-12.
    EXPECT_LT(max_difference(torch::cat({a.output, b.output}), single.output), 1e-10);
    EXPECT_LT(max_difference(torch::cat({a.input_grad, b.input_grad}), single.input_grad), 1e-10);
    ASSERT_EQ(a.grads.size(), single.grads.size());
    for (size_t p = 0; p < single.grads.size(); ++p)
      EXPECT_LT(max_difference(a.grads[p] + b.grads[p], single.grads[p]), 1e-9) << "parameter " << p;
    ASSERT_EQ(a.buffers.size(), single.buffers.size());
    for (size_t i = 0; i < single.buffers.size(); ++i) {
      // Running statistics (and num_batches_tracked) are the global batch's on every rank.
      EXPECT_LT(max_difference(a.buffers[i].to(torch::kDouble), single.buffers[i].to(torch::kDouble)), 1e-12)
          << "buffer " << i;
      EXPECT_LT(max_difference(b.buffers[i].to(torch::kDouble), single.buffers[i].to(torch::kDouble)), 1e-12)
          << "buffer " << i;
    }
    // Unconverted, each rank normalizes by its half of the batch: visibly another output.
    const auto& pa = ranks[0].unconverted[k];
    const auto& pb = ranks[1].unconverted[k];
    EXPECT_GT(max_difference(torch::cat({pa.output, pb.output}), single.output), 1e-3);
  }
  for (int64_t r = 0; r < kWorld; ++r)
    EXPECT_THAT(ranks[r].torch_batch_norm_error,
                HasSubstr("convert_sync_batch_norm: module \"1\" is a torch::nn::BatchNorm2d"));
}

TEST(ConvertSyncBatchNorm, ConvertedModelOnTwoGlooRanksEqualsOneProcess) {
  expect_two_ranks_equal_one_process(torch::kCPU);
}

TEST(ConvertSyncBatchNorm, ConvertedModelOnTwoGlooRanksEqualsOneProcessOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device here";
  expect_two_ranks_equal_one_process(torch::Device(torch::kCUDA, 0));
}

TEST(ConvertSyncBatchNorm, ModelsBuildTheConvertibleBatchNormUnderTorchsNames) {
  auto model = models::make_model(cases()[1].options);
  int64_t batch_norms = 0;
  for (const auto& m : model.ptr()->modules()) {
    if (dynamic_cast<nn::BatchNormImpl*>(m.get())) ++batch_norms;
    EXPECT_EQ(dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get()), nullptr);
  }
  EXPECT_EQ(batch_norms, 20);
  std::vector<std::string> names;
  for (const auto& b : model.ptr()->named_buffers()) names.push_back(b.key());
  EXPECT_THAT(names, ::testing::Contains("layer2.0.downsample.1.running_var"));
  EXPECT_THAT(names, ::testing::Contains("layer1.0.bn1.num_batches_tracked"));
  EXPECT_THAT(error_message([&] { convert_sync_batch_norm(*model.ptr(), nullptr); }),
              HasSubstr("convert_sync_batch_norm: expected a distributed context, got none"));
}

}  // namespace
}  // namespace tiebreak::distributed
