// The 64-bit indexing path of the CUDA pooling kernels: a half input with more
// than 2^31 elements (4.3 GB; about 20 GB of GPU memory in all), its last planes
// checked against native ATen and against the 32-bit path. Skips without a GPU or
// without enough free GPU memory.

#include "ops/cuda_test_support.h"
#include "ops/pool_geometry.h"
#include "tiebreak/core/build_info.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <limits>

namespace {

using tiebreak::ops::PoolFormulation;
using tiebreak::ops::PoolGeometry;

TEST(CudaPoolingHeavyTest, KernelsIndexTensorsBeyondTwoToThe31Elements) {
  TIEBREAK_REQUIRE_CUDA_OR_SKIP();
  size_t free_bytes = 0, total_bytes = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total_bytes), cudaSuccess);
  if (free_bytes < (size_t{24} << 30)) {
    GTEST_SKIP() << "needs about 24 GiB of free GPU memory, found " << (free_bytes >> 30)
                 << " GiB (skipped, not failed)";
  }

  torch::manual_seed(7);
  const auto options = torch::TensorOptions().dtype(at::kHalf).device(torch::kCUDA);
  // 32769 planes of 256x256: 2^31 + 65536 elements, so the 64-bit kernels run.
  const int64_t channels = 32769;
  const at::Tensor x = torch::randint(0, 2, {1, channels, 256, 256}, options);
  ASSERT_GT(x.numel(), std::numeric_limits<int32_t>::max());
  const auto g = tiebreak::ops::cuda_test::geometry(x, 2, 2, 0, 1, false);

  // Everything is compared on the last planes (past element 2^31): the 64-bit
  // path on the whole tensor against native ATen and against the 32-bit path on
  // those planes alone (ATen itself is not asked to index past 2^31).
  const int64_t last = 8;
  const at::Tensor tail = x.narrow(1, channels - last, last).contiguous();
  const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, 0.5, PoolFormulation::Pure);
  const auto [tail_out, tail_indices, tail_ties] =
      max_pool2d_forward_cuda(tail, g, 0.5, PoolFormulation::Pure);
  const auto [native_out, native_indices] = at::max_pool2d_with_indices(tail, {2}, {2}, {0}, {1}, false);
  EXPECT_TRUE(torch::equal(out.narrow(1, channels - last, last), native_out));
  EXPECT_TRUE(torch::equal(indices.narrow(1, channels - last, last), native_indices));
  EXPECT_TRUE(torch::equal(ties.narrow(1, channels - last, last), tail_ties));

  const at::Tensor grad = torch::randn(out.sizes(), options);
  const at::Tensor tail_grad_output = grad.narrow(1, channels - last, last).contiguous();
  for (double beta : {0.0, 0.5}) {
    SCOPED_TRACE(beta);
    const at::Tensor grad_input =
        max_pool2d_backward_cuda(grad, x, indices, ties, g, beta, PoolFormulation::Pure);
    const at::Tensor tail_grad = max_pool2d_backward_cuda(tail_grad_output, tail, tail_indices, tail_ties, g,
                                                          beta, PoolFormulation::Pure);
    EXPECT_TRUE(torch::equal(grad_input.narrow(1, channels - last, last), tail_grad));
    if (beta == 0.0) {
      const at::Tensor native = at::max_pool2d_with_indices_backward(tail_grad_output, tail, {2}, {2}, {0},
                                                                     {1}, false, tail_indices);
      EXPECT_TRUE(torch::equal(tail_grad, native));
    }
  }

  const at::Tensor norm = norm_pool2d_forward_cuda(x, g);
  const at::Tensor tail_norm = norm_pool2d_forward_cuda(tail, g);
  EXPECT_TRUE(torch::equal(norm.narrow(1, channels - last, last), tail_norm));
}

}  // namespace
