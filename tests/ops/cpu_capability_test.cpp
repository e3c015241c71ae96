// The builds of the CPU pooling kernels (baseline x86-64 and F16C) compute the
// same bits: MaxPool forward values, indices, tie counts and gradients for
// every dtype, both formulations, several β, NCHW and NHWC, tiled and
// overlapping windows; NormPool forward and backward likewise. Automatic
// detection picks F16C where the CPU has it.
#include "ops/cpu/cpu_capability.h"
#include "ops/cpu/kernel_builds.h"
#include "ops/pool_geometry.h"
#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

namespace tiebreak::ops {
namespace {

/// What automatic detection must pick on this CPU.
std::string expected_capability() {
#if defined(TIEBREAK_CPU_F16C_KERNELS) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx") ? "f16c" : "default";
#else
  return "default";
#endif
}

TEST(CpuCapability, DetectionPicksF16cWhereTheCpuHasIt) {
  if (std::getenv("TIEBREAK_CPU_CAPABILITY") != nullptr) GTEST_SKIP() << "TIEBREAK_CPU_CAPABILITY is set";
  EXPECT_EQ(to_string(cpu_capability()), expected_capability());
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
  // Unset: what detection picks.
  ::unsetenv("TIEBREAK_CPU_CAPABILITY");
  auto detected = testing::run_tiebreak("--version");
  ASSERT_EQ(detected.exit_code, 0) << detected.err;
  EXPECT_THAT(detected.out, ::testing::HasSubstr("CPU kernels: " + expected_capability()));
  if (expected_capability() == "f16c") {
    auto forced = version_with_capability("f16c");
    ASSERT_EQ(forced.exit_code, 0) << forced.err;
    EXPECT_THAT(forced.out, ::testing::HasSubstr("CPU kernels: f16c"));
  }
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
            const PoolGeometry g = make_pool_geometry(
                parse_pool_args("cpu_capability_test", {c.kernel}, {c.stride}, {c.pad}, {1}, false), x);
            const std::string what = std::string(c10::toString(dtype)) + (channels_last ? " NHWC" : " NCHW") +
                                     " k" + std::to_string(c.kernel) + " " + to_string(formulation) +
                                     " beta=" + std::to_string(beta);
            const auto format = x.suggest_memory_format();
            const auto out_options = x.options().memory_format(format);
            const std::vector<int64_t> out_sizes{x.size(0), x.size(1), g.output_h, g.output_w};
            std::vector<at::Tensor> y, i, t, gin;
            for (int build = 0; build < 2; ++build) {
              y.push_back(at::empty(out_sizes, out_options));
              i.push_back(at::empty(out_sizes, out_options.dtype(at::kLong)));
              t.push_back(at::empty(out_sizes, out_options.dtype(at::kInt)));
              gin.push_back(at::empty_like(x, out_options));
            }
            default_isa::max_pool2d_forward_kernel(x, y[0], i[0], t[0], g, beta, formulation);
            f16c::max_pool2d_forward_kernel(x, y[1], i[1], t[1], g, beta, formulation);
            expect_bitwise_equal(y[0], y[1], what + " output");
            expect_bitwise_equal(i[0], i[1], what + " indices");
            expect_bitwise_equal(t[0], t[1], what + " ties");
            const auto gout = torch::randn(out_sizes, torch::kFloat).to(dtype).contiguous(format);
            default_isa::max_pool2d_backward_kernel(gout, x, i[0], t[0], gin[0], g, beta, formulation);
            f16c::max_pool2d_backward_kernel(gout, x, i[1], t[1], gin[1], g, beta, formulation);
            expect_bitwise_equal(gin[0], gin[1], what + " grad_input");
            if (formulation == PoolFormulation::Pure && beta == 0.0) {
              // NormPool (stride and padding of the case, dilation 1), with the same dtypes and layouts.
              default_isa::norm_pool2d_forward_kernel(x, y[0], g);
              f16c::norm_pool2d_forward_kernel(x, y[1], g);
              expect_bitwise_equal(y[0], y[1], what + " norm_pool2d output");
              default_isa::norm_pool2d_backward_kernel(gout, x, y[0], gin[0], g, 1.0);
              f16c::norm_pool2d_backward_kernel(gout, x, y[1], gin[1], g, 1.0);
              expect_bitwise_equal(gin[0], gin[1], what + " norm_pool2d grad_input");
            }
          }
        }
      }
    }
  }
}
#endif

}  // namespace
}  // namespace tiebreak::ops
