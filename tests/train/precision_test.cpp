#include "tiebreak/train/precision.h"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <limits>
#include <sstream>

namespace tiebreak::train {
namespace {

using config::Precision;

TEST(PrecisionPlan, MapsEachPrecision) {
  EXPECT_EQ(plan_for(Precision::Fp16).parameter_dtype, at::kHalf);
  EXPECT_FALSE(plan_for(Precision::Fp16).autocast_dtype.has_value());
  EXPECT_FALSE(plan_for(Precision::Fp16).loss_scaling);
  EXPECT_EQ(plan_for(Precision::Fp64).parameter_dtype, at::kDouble);
  EXPECT_EQ(plan_for(Precision::Bf16).parameter_dtype, at::kBFloat16);
  auto amp = plan_for(Precision::AmpFp16);
  EXPECT_EQ(amp.parameter_dtype, at::kFloat);
  EXPECT_EQ(amp.autocast_dtype, at::kHalf);
  EXPECT_TRUE(amp.loss_scaling);
  EXPECT_EQ(plan_for(Precision::AmpBf16).autocast_dtype, at::kBFloat16);
  EXPECT_FALSE(plan_for(Precision::AmpBf16).loss_scaling);
}

TEST(PrecisionPlan, Fp32AccumulateForTheSixteenBitComputeTypesUnlessNative) {
  using config::HalfCompute;
  for (auto p : {Precision::Fp16, Precision::Bf16, Precision::AmpFp16, Precision::AmpBf16}) {
    SCOPED_TRACE(config::to_string(p));
    EXPECT_TRUE(plan_for(p).fp32_accumulate);
    EXPECT_TRUE(plan_for(p, HalfCompute::Fp32Accumulate).fp32_accumulate);
    EXPECT_FALSE(plan_for(p, HalfCompute::Fp32Accumulate).bf16_products_native);
    EXPECT_FALSE(plan_for(p, HalfCompute::Native).fp32_accumulate);
    EXPECT_FALSE(plan_for(p, HalfCompute::Native).bf16_products_native);
  }
  // The default (auto) hands BFloat16 products to the CPU's BF16 units where it has them, never Half's.
  EXPECT_FALSE(plan_for(Precision::Fp16).bf16_products_native);
  EXPECT_FALSE(plan_for(Precision::AmpFp16).bf16_products_native);
  EXPECT_EQ(plan_for(Precision::Bf16).bf16_products_native, cpu_has_bf16_units());
  EXPECT_EQ(plan_for(Precision::AmpBf16).bf16_products_native, cpu_has_bf16_units());
  for (auto p : {Precision::Fp32, Precision::Fp64}) {
    EXPECT_FALSE(plan_for(p).fp32_accumulate);
    EXPECT_FALSE(plan_for(p).half_compute_requested.has_value());
  }
  EXPECT_THAT(
      describe(plan_for(Precision::Fp16), Precision::Fp16),
      ::testing::HasSubstr("compute in fp32 on the Half values and round once (train.half_compute=auto)"));
  EXPECT_THAT(describe(plan_for(Precision::Fp16, HalfCompute::Fp32Accumulate), Precision::Fp16),
              ::testing::HasSubstr("(train.half_compute=fp32_accumulate)"));
  EXPECT_THAT(describe(plan_for(Precision::Bf16, HalfCompute::Native), Precision::Bf16),
              ::testing::HasSubstr("LibTorch's own BFloat16 kernels (train.half_compute=native)"));
  PrecisionPlan units = plan_for(Precision::Bf16, HalfCompute::Fp32Accumulate);
  units.bf16_products_native = true;
  EXPECT_THAT(describe(units, Precision::Bf16), ::testing::HasSubstr("oneDNN's BFloat16 kernels"));
}

TEST(PrecisionPlan, AutoLeavesOnlyBFloat16ProductsToACpuWithBf16Units) {
  using config::HalfCompute;
  const auto fp32_products = [](HalfComputeChoice c) { return c.fp32_accumulate && !c.bf16_products_native; };
  const auto units_products = [](HalfComputeChoice c) { return c.fp32_accumulate && c.bf16_products_native; };
  EXPECT_TRUE(units_products(choose_half_compute(HalfCompute::Auto, at::kBFloat16, true)));
  EXPECT_TRUE(fp32_products(choose_half_compute(HalfCompute::Auto, at::kBFloat16, false)));
  EXPECT_TRUE(fp32_products(choose_half_compute(HalfCompute::Auto, at::kHalf, true)));
  EXPECT_TRUE(fp32_products(choose_half_compute(HalfCompute::Auto, at::kHalf, false)));
  for (bool units : {false, true}) {
    for (auto dtype : {at::kHalf, at::kBFloat16}) {
      EXPECT_TRUE(fp32_products(choose_half_compute(HalfCompute::Fp32Accumulate, dtype, units)));
      const auto native = choose_half_compute(HalfCompute::Native, dtype, units);
      EXPECT_FALSE(native.fp32_accumulate || native.bf16_products_native);
    }
  }
}

// The capability auto decides by is the CPU's own: the kernel's flags name it.
TEST(PrecisionPlan, Bf16UnitsAreTheCpuFlagsTheKernelReports) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  if (!cpuinfo) GTEST_SKIP() << "no /proc/cpuinfo to compare against";
  std::string line;
  bool flagged = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string flag; words >> flag;) flagged = flagged || flag == "avx512_bf16" || flag == "amx_bf16";
    break;
  }
  EXPECT_EQ(cpu_has_bf16_units(), flagged && at::hasMKLDNN());
}

TEST(PrecisionGuard, EngagesWhatThePlanAsksForOnTheCpuOnly) {
  ASSERT_FALSE(precision::fp32_accumulate_enabled());
  {
    PrecisionGuard guard(plan_for(Precision::Fp16), c10::DeviceType::CPU);
    EXPECT_TRUE(precision::fp32_accumulate_enabled());
    EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  }
  EXPECT_FALSE(precision::fp32_accumulate_enabled());
  {
    PrecisionGuard guard(plan_for(Precision::AmpBf16, config::HalfCompute::Fp32Accumulate),
                         c10::DeviceType::CPU);
    EXPECT_TRUE(precision::fp32_accumulate_enabled());
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
  }
  {
    PrecisionGuard guard(plan_for(Precision::Fp16, config::HalfCompute::Native), c10::DeviceType::CPU);
    EXPECT_FALSE(precision::fp32_accumulate_enabled());
  }
  {
    // CUDA's 16-bit kernels are used as they are.
    PrecisionGuard guard(plan_for(Precision::Fp16), c10::DeviceType::CUDA);
    EXPECT_FALSE(precision::fp32_accumulate_enabled());
  }
  {
    PrecisionGuard guard(plan_for(Precision::Fp32), c10::DeviceType::CPU);
    EXPECT_FALSE(precision::fp32_accumulate_enabled());
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
}

TEST(AutocastGuard, CastsMatmulsOnCpuAndRestoresTheState) {
  auto a = torch::randn({4, 4});
  ASSERT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  {
    AutocastGuard guard(at::kCPU, at::kBFloat16);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    EXPECT_EQ(torch::mm(a, a).scalar_type(), at::kBFloat16);
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  EXPECT_EQ(torch::mm(a, a).scalar_type(), at::kFloat);
  {
    AutocastGuard off(at::kCPU, std::nullopt);
    EXPECT_EQ(torch::mm(a, a).scalar_type(), at::kFloat);
  }
}

config::LossScaleConfig scale_options(double init, int64_t interval) {
  config::LossScaleConfig o;
  o.init_scale = init;
  o.growth_interval = interval;
  return o;
}

TEST(DynamicLossScaler, ScalesUnscalesAndSteps) {
  auto w = torch::tensor({1.0f, 2.0f}).requires_grad_();
  torch::optim::SGD opt({w}, torch::optim::SGDOptions(0.5));
  DynamicLossScaler scaler(scale_options(1024, 2000), torch::kCPU);
  auto loss = (w * w).sum();
  auto scaled = scaler.scale(loss);
  EXPECT_FLOAT_EQ(scaled.item<float>(), 1024 * 5);
  scaled.backward();
  EXPECT_TRUE(scaler.step(opt));
  // Gradient 2w = (2, 4) after unscaling; w ← w − 0.5·g = (0, 0).
  EXPECT_TRUE(torch::allclose(w, torch::zeros({2})));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 1024);
}

TEST(DynamicLossScaler, SkipsOverflowingStepsAndBacksOff) {
  auto w = torch::tensor({1.0f}).requires_grad_();
  torch::optim::SGD opt({w}, torch::optim::SGDOptions(0.5));
  DynamicLossScaler scaler(scale_options(1024, 2000), torch::kCPU);
  w.mutable_grad() = torch::tensor({std::numeric_limits<float>::infinity()});
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_FLOAT_EQ(w.item<float>(), 1.0f);
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 512);
  EXPECT_EQ(scaler.skipped_steps(), 1);
}

TEST(DynamicLossScaler, GrowsAfterTheIntervalAndStateRoundTrips) {
  auto w = torch::tensor({1.0f}).requires_grad_();
  torch::optim::SGD opt({w}, torch::optim::SGDOptions(0.0));
  DynamicLossScaler scaler(scale_options(8, 3), torch::kCPU);
  for (int i = 0; i < 3; ++i) {
    w.mutable_grad() = torch::ones({1});
    scaler.step(opt);
    scaler.update();
  }
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 16);
  w.mutable_grad() = torch::ones({1});
  scaler.step(opt);
  scaler.update();  // one clean step towards the next growth
  std::stringstream buffer;
  {
    torch::serialize::OutputArchive archive;
    scaler.save(archive);
    archive.save_to(buffer);
  }
  DynamicLossScaler restored(scale_options(1, 3), torch::kCPU);
  torch::serialize::InputArchive archive;
  archive.load_from(buffer);
  restored.load(archive);
  EXPECT_DOUBLE_EQ(restored.current_scale(), 16);
  for (int i = 0; i < 2; ++i) {
    w.mutable_grad() = torch::ones({1});
    restored.step(opt);
    restored.update();
  }
  EXPECT_DOUBLE_EQ(restored.current_scale(), 32);  // the growth tracker came back too
}

// Which CPU kernels this LibTorch (2.11) has in reduced precision, pinned so that a
// LibTorch upgrade that changes it is noticed (docs/training.md records the result).
TEST(CpuKernels, ConvLinearPoolNormSoftmaxNllRunInHalfAndBFloat16) {
  EXPECT_THAT(unsupported_ops(at::kHalf, torch::kCPU), ::testing::IsEmpty());
  EXPECT_THAT(unsupported_ops(at::kBFloat16, torch::kCPU), ::testing::IsEmpty());
  EXPECT_THAT(unsupported_ops(at::kDouble, torch::kCPU), ::testing::IsEmpty());
}

}  // namespace
}  // namespace tiebreak::train
