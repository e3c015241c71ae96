// Long real-data runs: a full MNIST epoch through the batch pipeline, on the CPU and (when
// present) on CUDA. Prints the throughput; asserts only what the epoch must contain.
#include "support/test_support.h"
#include "tiebreak/data/registry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

namespace tiebreak::data {
namespace {

void run_epochs(const std::filesystem::path& root, torch::Device device) {
  auto start = std::chrono::steady_clock::now();
  auto ds = make_dataset("mnist", DataOptions().root(root.string()).device(device).seed(1));
  auto loaded = std::chrono::steady_clock::now();
  int64_t examples = 0;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    auto stream = ds->epoch(Split::Train, epoch);
    while (auto b = stream->next()) examples += b->labels.size(0);
  }
  if (device.is_cuda()) torch::cuda::synchronize();
  auto done = std::chrono::steady_clock::now();
  EXPECT_EQ(examples, 3 * 60000);
  const double load_s = std::chrono::duration<double>(loaded - start).count();
  const double epoch_s = std::chrono::duration<double>(done - loaded).count() / 3;
  std::cout << "[throughput] mnist on " << device << ": load " << load_s
            << " s, one training epoch (469 batches) " << epoch_s << " s = " << 60000 / epoch_s
            << " images/s\n";
}

TEST(DataThroughput, MnistEpochCpu) {
  TIEBREAK_REQUIRE_SHARED_DATA(file, "mnist/train-images-idx3-ubyte.gz");
  run_epochs(file.parent_path().parent_path(), torch::kCPU);
}

TEST(DataThroughput, MnistEpochCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (skipped, not failed)";
  TIEBREAK_REQUIRE_SHARED_DATA(file, "mnist/train-images-idx3-ubyte.gz");
  run_epochs(file.parent_path().parent_path(), torch::kCUDA);
}

}  // namespace
}  // namespace tiebreak::data
