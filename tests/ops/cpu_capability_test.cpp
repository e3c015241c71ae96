// The builds of the MaxPool CPU kernels (baseline x86-64 and F16C) compute the
// same bits: forward values, indices, tie counts and gradients, for every dtype,
// both formulations, several β, NCHW and NHWC, tiled and overlapping windows.
#include "ops/cpu/cpu_capability.h"
#include "ops/cpu/max_pool2d_kernel_builds.h"
#include "ops/pool_geometry.h"
#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

namespace tiebreak::ops {
namespace {

TEST(CpuCapability, ReportsAKnownCapability) {
  const auto name = to_string(cpu_capability());
  EXPECT_TRUE(name == "default" || name == "f16c") << name;
}

/// Runs `tiebreak --version` with TIEBREAK_CPU_CAPABILITY set to `value`.
testing::CommandResult version_with_capability(const char* value) {
  ::setenv("TIEBREAK_CPU_CAPABILITY", value, 1);
  auto r = testing::run_tiebreak("--version");
  ::unsetenv("TIEBREAK_CPU_CAPABILITY");
  return r;
}

TEST(CpuCapability, TheEnvironmentChoosesTheBuildAndVersionReportsIt) {
  auto r = version_with_capability("default");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("CPU kernels: default"));
  auto bad = version_with_capability("avx9000");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err,
              ::testing::HasSubstr("TIEBREAK_CPU_CAPABILITY: expected default or f16c, got \"avx9000\""));
}

#ifdef TIEBREAK_CPU_F16C_KERNELS
struct Case {
  int64_t kernel, stride, pad;
};

at::Tensor tied_input(at::ScalarType dtype, bool channels_last) {
  // Small integers after ReLU: many exact ties (zeros and repeated values), and
  // values whose Half/BFloat16 rounding matters once multiplied by β.
  auto x = torch::randint(-3, 5, {2, 5, 9, 11}, torch::kFloat).div_(3).relu_().to(dtype);
  return x.contiguous(channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
}

void expect_bitwise_equal(const at::Tensor& a, const at::Tensor& b, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  ASSERT_EQ(a.strides(), b.strides()) << what;
  EXPECT_TRUE(torch::equal(a.contiguous().view(at::kByte), b.contiguous().view(at::kByte)) ||
              (a.is_floating_point() && torch::equal(a.isnan(), b.isnan()) &&
               torch::equal(a.nan_to_num(0), b.nan_to_num(0))))
      << what;
}

TEST(CpuCapability, F16cAndBaselineBuildsAgreeBitForBit) {
  if (!__builtin_cpu_supports("f16c") || !__builtin_cpu_supports("avx"))
    GTEST_SKIP() << "this CPU has no F16C";
  torch::manual_seed(7);
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kFloat, at::kDouble}) {
    for (bool channels_last : {false, true}) {
      for (const Case c : {Case{2, 2, 0}, Case{3, 2, 1}}) {
        for (auto formulation : {PoolFormulation::Pure, PoolFormulation::Mixture}) {
          for (double beta : {0.0, 1.0, -1.0, 1000.0}) {
            const auto x = tied_input(dtype, channels_last);
            const auto g =
                make_pool_geometry("cpu_capability_test", x, {c.kernel}, {c.stride}, {c.pad}, {1}, false);
            const std::string what = std::string(c10::toString(dtype)) + (channels_last ? " NHWC" : " NCHW") +
                                     " k" + std::to_string(c.kernel) + " " + to_string(formulation) +
                                     " beta=" + std::to_string(beta);
            auto [y0, i0, t0] = default_isa::max_pool2d_forward_cpu(x, g, beta, formulation);
            auto [y1, i1, t1] = f16c::max_pool2d_forward_cpu(x, g, beta, formulation);
            expect_bitwise_equal(y0, y1, what + " output");
            expect_bitwise_equal(i0, i1, what + " indices");
            expect_bitwise_equal(t0, t1, what + " ties");
            const auto gout =
                torch::randn(y0.sizes(), torch::kFloat).to(dtype).contiguous(y0.suggest_memory_format());
            expect_bitwise_equal(default_isa::max_pool2d_backward_cpu(gout, x, i0, t0, g, beta, formulation),
                                 f16c::max_pool2d_backward_cpu(gout, x, i1, t1, g, beta, formulation),
                                 what + " grad_input");
          }
        }
      }
    }
  }
}
#endif

}  // namespace
}  // namespace tiebreak::ops
