// The training benchmark's 16-bit rows run train.half_compute=fp32_accumulate
// by default. They compare like with like only if that path computes what
// LibTorch's own 16-bit CPU kernels compute, up to the order of summation
// (issue 14 §1). Checked here on small inputs, untimed, with the same tool
// `tiebreak half-check` uses for the full-size measurement in BENCHMARKS.md.

#include "tiebreak/config/config.h"
#include "tiebreak/train/half_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>

namespace tiebreak::bench {
namespace {

struct Case {
  std::string model;
  bool batch_norm;
  config::Precision precision;
};

config::ExperimentConfig small_config(const Case& c) {
  config::ExperimentConfig cfg;
  cfg.data.dataset = "synthetic";
  cfg.data.synthetic.shape = {1, 28, 28};
  cfg.data.synthetic.train_size = 32;
  cfg.data.synthetic.test_size = 8;
  cfg.data.batch_size = 8;
  cfg.model.name = c.model;
  cfg.model.batch_norm = c.batch_norm;
  cfg.train.precision = c.precision;
  cfg.exp.device = "cpu";
  return cfg;
}

std::string case_name(const Case& c) {
  return c.model + (c.batch_norm ? "_bn_" : "_nobn_") + config::to_string(c.precision);
}

void PrintTo(const Case& c, std::ostream* os) { *os << case_name(c); }

class HalfEquivalence : public ::testing::TestWithParam<Case> {};

TEST_P(HalfEquivalence, Fp32AccumulateMatchesLibTorchsSixteenBitKernels) {
  const auto cfg = small_config(GetParam());
  const auto report = train::check_half_compute(cfg, train::default_components());
  SCOPED_TRACE(train::format_half_check(report));
  ASSERT_FALSE(report.operations.empty());
  int64_t elements = 0, differing = 0;
  for (const auto& c : report.operations) {
    SCOPED_TRACE(c.layer + " " + c.op + " " + c.product);
    // LibTorch's CPU convolution forward and its matrix products (addmm, mm,
    // ...) are, like the fp32-accumulate path, one float accumulation rounded
    // once: the two differ only where a float sum lands on either side of a
    // rounding boundary, by one ulp, a few where the result cancels to near
    // zero. Its convolution backward (slow_conv2d) rounds partial sums to 16
    // bits (per sample for grad_weight, in col2im for grad_input) and its batch
    // norm applies 16-bit scale and shift, so there the native result is the
    // less accurate one, by up to thousands of ulps on near-zero results (see
    // BENCHMARKS.md): only the accuracy check below applies.
    const bool rounds_once = c.op != "batch_norm" && (c.op != "convolution" || c.product == "output");
    if (rounds_once) {
      EXPECT_LE(c.max_ulp_distance, 3);
      elements += c.elements;
      differing += c.differing;
    }
    // The fast path is never the less accurate one by more than an ulp.
    EXPECT_LE(c.fp32_accumulate_max_error, std::max(c.native_max_error, 1.0) + 1.0);
  }
  // Where both round once, differences are rare: summation order, not another arithmetic.
  EXPECT_LE(static_cast<double>(differing), 0.02 * static_cast<double>(elements));
  // Same weights, same batch: the ties of the first pooling layer lie at the
  // same windows (LeNet5 pools the convolution's output directly; where a batch
  // norm comes first, as in VGG11-BN, LibTorch's 16-bit batch norm moves a few).
  ASSERT_FALSE(report.ties.empty());
  EXPECT_EQ(report.ties.front().ties_native, report.ties.front().ties_fp32_accumulate);
  EXPECT_EQ(report.ties.front().differing_windows, 0);
  for (const auto& g : report.gradients)
    EXPECT_LT(g.max_ulp_distance, precision::kNanMismatch) << g.parameter;
}

std::string test_name(const ::testing::TestParamInfo<Case>& info) { return case_name(info.param); }

INSTANTIATE_TEST_SUITE_P(Models, HalfEquivalence,
                         // VGG11 is measured full-size in BENCHMARKS.md (a minute per case here:
                         // LibTorch's 16-bit CPU convolutions are the slow path).
                         ::testing::Values(Case{"lenet5", false, config::Precision::Fp16},
                                           Case{"lenet5", true, config::Precision::Fp16},
                                           Case{"lenet5", false, config::Precision::Bf16},
                                           Case{"lenet5", true, config::Precision::Bf16}),
                         test_name);

TEST(HalfEquivalence, RefusesWhatItCannotCompare) {
  auto cfg = small_config({"lenet5", false, config::Precision::Fp32});
  try {
    train::check_half_compute(cfg, train::default_components());
    FAIL() << "fp32 accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("train.precision: expected fp16 or bf16"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace tiebreak::bench
