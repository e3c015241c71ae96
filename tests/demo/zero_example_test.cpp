#include "tiebreak/demo/zero_example.h"
#include "support/test_support.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace {

using namespace tiebreak::demo;
using tiebreak::testing::run_tiebreak;

// Expected values: the paper's notebook (notebooks/first_xp.ipynb of
// ryanboustany/MaxPool-numerical) prints 5.960464477539063e-08 = 2^-24 for x1 in
// float32 at every t; the float64 and (1,2,3,4) values were obtained with
// PyTorch 2.11 in Python (max1 an `if` loop, max2 torch.max).

TEST(ZeroExample, CompensationZoneInFloat32IsTwoToTheMinus24) {
  for (double t : paper_t_values()) {
    auto p = evaluate_zero(paper_x_compensation(), t, at::kFloat);
    EXPECT_EQ(p.value, 0.0) << "t=" << t;
    EXPECT_EQ(p.derivative, std::ldexp(1.0, -24)) << "t=" << t;
    EXPECT_EQ(p.real_derivative, 0.0) << "t=" << t;
    EXPECT_EQ(p.zone, ZeroZone::Compensation) << "t=" << t;
  }
}

TEST(ZeroExample, Float64OfThePapersFloat32XIsExact) {
  for (double t : paper_t_values()) {
    auto p = evaluate_zero(paper_x_compensation(), t, at::kDouble);
    EXPECT_EQ(p.derivative, 0.0) << "t=" << t;
    EXPECT_EQ(p.zone, ZeroZone::None) << "t=" << t;
  }
}

TEST(ZeroExample, Float64OfDecimal114StillCompensatesAtTwoToTheMinus53) {
  for (double t : paper_t_values()) {
    auto p = evaluate_zero({1.14, 1.14, 1.14, 1.14}, t, at::kDouble);
    EXPECT_EQ(p.derivative, std::ldexp(1.0, -53)) << "t=" << t;
    EXPECT_EQ(p.zone, ZeroZone::Compensation) << "t=" << t;
  }
}

TEST(ZeroExample, BifurcationAtTZeroInEveryPrecision) {
  // The study's t values, t = 0 among them (the loop below relies on it).
  EXPECT_EQ(paper_t_values(), (std::vector<double>{0.0, 0.1, 1.0, -1e-4, -6.0}));
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kFloat, at::kDouble}) {
    // At t = 0 itself, whatever the list holds.
    const auto at_zero = evaluate_zero(paper_x_bifurcation(), 0.0, dtype);
    EXPECT_EQ(at_zero.derivative, -1.5) << dtype;
    EXPECT_EQ(at_zero.real_derivative, -1.5) << dtype;
    EXPECT_EQ(at_zero.zone, ZeroZone::Bifurcation) << dtype;
  }
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kFloat, at::kDouble}) {
    for (double t : paper_t_values()) {
      auto p = evaluate_zero(paper_x_bifurcation(), t, dtype);
      EXPECT_EQ(p.value, 0.0);
      if (t == 0.0) {
        // max1 sends g to x[0] = 1, max2 spreads it: 1 − (1+2+3+4)/4.
        EXPECT_EQ(p.derivative, -1.5) << dtype;
        EXPECT_EQ(p.real_derivative, -1.5) << dtype;
        EXPECT_EQ(p.zone, ZeroZone::Bifurcation) << dtype;
      } else {
        EXPECT_EQ(p.derivative, 0.0) << dtype << " t=" << t;
        EXPECT_EQ(p.zone, ZeroZone::None) << dtype << " t=" << t;
      }
    }
  }
}

TEST(ZeroExample, RealTieWithZeroRealDerivativeIsNotBifurcation) {
  // At t = 0 every entry ties, but x[0] equals the mean: AD over the reals is right.
  auto p = evaluate_zero({2.0, 1.0, 3.0, 2.0}, 0.0, at::kDouble);
  EXPECT_EQ(p.real_derivative, 0.0);
  EXPECT_EQ(p.derivative, 0.0);
  EXPECT_EQ(p.zone, ZeroZone::None);
  // For t < 0 the maxima of t·x are at the smallest x: a tie of x[1] and x[3].
  auto q = evaluate_zero({2.0, 1.0, 3.0, 1.0}, -1.0, at::kDouble);
  EXPECT_EQ(q.zone, ZeroZone::None);
}

TEST(ZeroExample, MaxJacobians) {
  auto y = torch::tensor({1.0, 3.0, 3.0, 3.0}, torch::requires_grad());
  auto g1 = torch::autograd::grad({first_max(y)}, {y})[0];
  EXPECT_TRUE(torch::equal(g1, torch::tensor({0.0, 1.0, 0.0, 0.0})));
  auto g2 = torch::autograd::grad({reduction_max(y)}, {y})[0];
  EXPECT_TRUE(torch::allclose(g2, torch::tensor({0.0, 1.0, 1.0, 1.0}) / 3.0));
}

TEST(ZeroExample, ParsesVectorsAndRejectsBadOnes) {
  auto x = parse_zero_vector("1.14, 2,-3e2,4");
  EXPECT_EQ(x[0], 1.14);
  EXPECT_EQ(x[2], -300.0);
  for (const char* bad : {"", "1,2,3", "1,2,3,4,5", "1,2,,4", "1,2,3,4,", "1,2,x,4", "1,2,3,nan", "1,2,3,inf",
                          "1,2,3,1e999", "1,2,3,4abc"}) {
    EXPECT_THROW(parse_zero_vector(bad), c10::Error) << bad;
  }
  EXPECT_EQ(parse_demo_dtype("float32"), at::kFloat);
  EXPECT_THROW(parse_demo_dtype("float8"), c10::Error);
  EXPECT_THROW(evaluate_zero({1e6, 1.0, 1.0, 1.0}, 1.0, at::kHalf), c10::Error);  // overflows float16
}

TEST(ZeroExample, PowerOfTwo) {
  EXPECT_EQ(power_of_two(std::ldexp(1.0, -24)), "2^-24");
  EXPECT_EQ(power_of_two(-0.25), "-2^-2");
  EXPECT_EQ(power_of_two(8.0), "2^3");
  EXPECT_EQ(power_of_two(-1.5), "");
  EXPECT_EQ(power_of_two(0.0), "");
}

TEST(ZeroDemoCli, DefaultPrintsBothPrecisionsAndZones) {
  auto r = run_tiebreak("demo zero");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("in float32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("in float64"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2^-24"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compensation"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bifurcation"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-1.5"), std::string::npos) << r.out;
}

TEST(ZeroDemoCli, Float64WithCustomX) {
  auto r = run_tiebreak("demo zero --dtype float64 --x 1.14,1.14,1.14,1.14");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("float32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2^-53"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("2^-24"), std::string::npos) << r.out;
}

TEST(ZeroDemoCli, BadXIsOneLineErrorAndNonZeroExit) {
  for (const char* args : {"demo zero --x 1,2,3", "demo zero --x 1,2,3,nan", "demo zero --x 1,2,a,4"}) {
    auto r = run_tiebreak(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_TRUE(r.out.empty()) << args << ": " << r.out;
    // The library names the value, the command line its flag.
    EXPECT_NE(r.err.find("tiebreak: error: --x 1,2,"), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
  auto r = run_tiebreak("demo zero --dtype float8");
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
