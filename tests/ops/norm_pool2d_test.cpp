#include "tiebreak/ops/norm_pool2d.h"
#include "tiebreak/nn/functional/norm_pool.h"
#include "tiebreak/nn/modules/norm_pool.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <sstream>

namespace {

using tiebreak::nn::NormPool2d;
using tiebreak::nn::NormPool2dOptions;

struct Geometry {
  int64_t kh, kw, sh, sw, ph, pw;
};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

// Brute force in float64, straight from the definition: window (oh, ow) covers
// rows oh·s − p … oh·s − p + k − 1, clipped to the input.
at::Tensor reference_forward(const at::Tensor& input, const Geometry& g) {
  auto x = input.to(torch::kDouble);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = out_size(H, g.kh, g.sh, g.ph), OW = out_size(W, g.kw, g.sw, g.pw);
  auto out = torch::zeros({N, C, OH, OW}, torch::kDouble);
  auto xa = x.accessor<double, 4>();
  auto oa = out.accessor<double, 4>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = 0;
          for (int64_t ih = oh * g.sh - g.ph; ih < oh * g.sh - g.ph + g.kh; ++ih)
            for (int64_t iw = ow * g.sw - g.pw; iw < ow * g.sw - g.pw + g.kw; ++iw)
              if (ih >= 0 && ih < H && iw >= 0 && iw < W) acc += xa[n][c][ih][iw] * xa[n][c][ih][iw];
          oa[n][c][oh][ow] = std::sqrt(acc);
        }
  return out;
}

/// The backward from the definition in float64, given the norms `norm` the
/// operator's forward produced (so the reference and the operator divide by
/// the same numbers), and Σ|contribution| per element.
std::pair<at::Tensor, at::Tensor> reference_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                                     const at::Tensor& norm_in, const Geometry& g,
                                                     double grad_at_zero) {
  auto x = input.to(torch::kDouble);
  auto gy = grad_output.to(torch::kDouble);
  auto norm = norm_in.to(torch::kDouble);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto gx = torch::zeros_like(x);
  auto scale = torch::zeros_like(x);
  auto xa = x.accessor<double, 4>();
  auto ga = gy.accessor<double, 4>();
  auto na = norm.accessor<double, 4>();
  auto gxa = gx.accessor<double, 4>();
  auto sa = scale.accessor<double, 4>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < norm.size(2); ++oh)
        for (int64_t ow = 0; ow < norm.size(3); ++ow)
          for (int64_t ih = oh * g.sh - g.ph; ih < oh * g.sh - g.ph + g.kh; ++ih)
            for (int64_t iw = ow * g.sw - g.pw; iw < ow * g.sw - g.pw + g.kw; ++iw)
              if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                const double nv = na[n][c][oh][ow];
                const double v =
                    nv == 0 ? grad_at_zero * ga[n][c][oh][ow] : xa[n][c][ih][iw] / nv * ga[n][c][oh][ow];
                gxa[n][c][ih][iw] += v;
                sa[n][c][ih][iw] += std::abs(v);
              }
  return {gx, scale};
}

/// One unit in the last place of each |value| in `dtype` (2^(e − p + 1)),
/// the smallest subnormal step for zeros.
at::Tensor ulp(const at::Tensor& value, at::ScalarType dtype) {
  int digits = 53, min_exp = -1021;
  switch (dtype) {
    case at::kHalf:
      digits = 11;
      min_exp = -13;
      break;
    case at::kBFloat16:
      digits = 8;
      min_exp = -125;
      break;
    case at::kFloat:
      digits = 24;
      min_exp = -125;
      break;
    default:
      break;
  }
  auto exponent = at::floor(at::log2(value.abs().to(at::kDouble).clamp_min(1e-300))).clamp_min(min_exp - 1);
  return at::pow(2.0, exponent - (digits - 1));
}

at::Tensor pool(const at::Tensor& x, const Geometry& g, double grad_at_zero = 0.0) {
  return tiebreak::ops::norm_pool2d(x, {g.kh, g.kw}, {g.sh, g.sw}, {g.ph, g.pw}, grad_at_zero);
}

const std::vector<Geometry> kGeometries = {
    {2, 2, 2, 2, 0, 0},  // the paper's setting
    {3, 3, 1, 1, 1, 1},  // overlapping windows with padding
    {3, 2, 2, 1, 1, 0},  // rectangular, overlapping in rows
    {2, 3, 3, 2, 0, 1},  // gaps between windows
};

double tolerance(at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf:
      return 2e-3;
    case at::kBFloat16:
      return 1.6e-2;
    case at::kFloat:
      return 2e-6;
    default:
      return 1e-13;
  }
}

TEST(NormPool2d, ForwardWithinOneUlpAndBackwardWithinTwoUlpsOfFloat64) {
  // Forward: within 1 ulp of the float64 norm (Σx² is summed in double, so one
  // rounding to the dtype). Backward, computed from the operator's own output:
  // within 2 ulps (of the dtype) of Σ|contribution| per element (op-math sums,
  // one rounding). A BFloat16 or Half kernel that summed in its own dtype
  // would miss both by far.
  torch::manual_seed(0);
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kFloat, at::kDouble}) {
    for (const auto& g : kGeometries) {
      for (double gaz : {0.0, 1.0}) {
        auto x = torch::randn({2, 3, 7, 6}, torch::kDouble);
        // Some all-zero windows (and zero elements inside nonzero windows).
        x.index_put_({0, 1}, 0.0);
        x.index_put_({1, 2, torch::indexing::Slice(0, 3), torch::indexing::Slice(0, 3)}, 0.0);
        x = x.to(dtype).requires_grad_();
        auto y = pool(x, g, gaz);
        auto gy = torch::randn(y.sizes(), torch::kDouble).to(dtype);
        auto gx = torch::autograd::grad({y}, {x}, {gy})[0];
        auto ref_y = reference_forward(x.detach(), g);
        SCOPED_TRACE(c10::str(dtype, " k=", g.kh, "x", g.kw, " gaz=", gaz));
        const auto forward_error = (y.to(torch::kDouble) - ref_y).abs() - ulp(ref_y, dtype);
        EXPECT_LE(forward_error.max().item<double>(), 0.0);
        auto [ref_gx, scale] = reference_backward(gy, x.detach(), y.detach(), g, gaz);
        const auto backward_error = (gx.to(torch::kDouble) - ref_gx).abs() - 2 * ulp(scale, dtype);
        EXPECT_LE(backward_error.max().item<double>(), 0.0);
      }
    }
  }
}

TEST(NormPool2d, WindowsWhoseSquaresLeaveTheRangeHaveNormAbsXAndGradientXOverNorm) {
  // Σx² of 1e-23 underflows and of 3e19 overflows in float32 (and BFloat16);
  // the norm must still be |x| and the gradient x/‖x‖ = (1, 0, 0, 0).
  struct Case {
    at::ScalarType dtype;
    double value, expected;
  };
  for (const auto& c :
       {Case{at::kFloat, 1e-23, 9.999999998199587e-24}, Case{at::kFloat, 3e19, 3.000000104103097e19},
        Case{at::kFloat, -3e19, 3.000000104103097e19},
        Case{at::kBFloat16, 1e-23, static_cast<double>(c10::BFloat16(1e-23f))},
        Case{at::kBFloat16, 3e19, static_cast<double>(c10::BFloat16(3e19f))},
        Case{at::kDouble, 1e-200, 1e-200}, Case{at::kDouble, 1e200, 1e200}}) {
    SCOPED_TRACE(c10::str(c.dtype, " x=", c.value));
    auto x = torch::zeros({1, 1, 2, 2}, torch::kDouble);
    x[0][0][0][0] = c.value;
    x = x.to(c.dtype).requires_grad_();
    auto y = pool(x, {2, 2, 2, 2, 0, 0});
    EXPECT_EQ(y.item<double>(), c.expected);
    y.backward(torch::ones_like(y));
    EXPECT_TRUE(x.grad()
                    .view(-1)
                    .to(torch::kDouble)
                    .equal(torch::tensor({c.value > 0 ? 1.0 : -1.0, 0.0, 0.0, 0.0}, torch::kDouble)))
        << x.grad();
  }
  // Two equal huge values: sqrt(2)·|x|, finite.
  auto two = torch::full({1, 1, 1, 2}, 2e38f);
  EXPECT_FLOAT_EQ(pool(two, {1, 2, 1, 2, 0, 0}).item<float>(),
                  static_cast<float>(std::sqrt(2.0) * static_cast<double>(2e38f)));
  auto tiny = torch::full({1, 1, 1, 2}, 1e-300, torch::kDouble);
  EXPECT_DOUBLE_EQ(pool(tiny, {1, 2, 1, 2, 0, 0}).item<double>(), std::sqrt(2.0) * 1e-300);
}

TEST(NormPool2d, AllZeroWindowGetsGradAtZeroTimesGrad) {
  // One 4x4 plane, 2x2 windows: top-left all zero, the others not.
  auto x = torch::zeros({1, 1, 4, 4}, torch::kDouble);
  x.index_put_({0, 0, 0, 2}, 3.0);
  x.index_put_({0, 0, 0, 3}, 4.0);   // window (0,1): norm 5
  x.index_put_({0, 0, 2, 0}, -2.0);  // window (1,0): norm 2
  x.index_put_({0, 0, 3, 3}, 1.0);   // window (1,1): norm 1
  auto gy = torch::tensor({{10.0, 20.0}, {30.0, 40.0}}, torch::kDouble).view({1, 1, 2, 2});
  for (double gaz : {0.0, 1.0, 0.25}) {
    auto xr = x.clone().requires_grad_();
    auto y = pool(xr, {2, 2, 2, 2, 0, 0}, gaz);
    EXPECT_TRUE(torch::equal(y, torch::tensor({{0.0, 5.0}, {2.0, 1.0}}, torch::kDouble).view({1, 1, 2, 2})));
    auto gx = torch::autograd::grad({y}, {xr}, {gy})[0];
    auto expected = torch::zeros({1, 1, 4, 4}, torch::kDouble);
    expected.index_put_({0, 0, torch::indexing::Slice(0, 2), torch::indexing::Slice(0, 2)}, gaz * 10.0);
    expected.index_put_({0, 0, 0, 2}, 3.0 / 5.0 * 20.0);
    expected.index_put_({0, 0, 0, 3}, 4.0 / 5.0 * 20.0);
    expected.index_put_({0, 0, 2, 0}, -1.0 * 30.0);
    expected.index_put_({0, 0, 3, 3}, 1.0 * 40.0);
    EXPECT_TRUE(torch::equal(gx, expected)) << "gaz=" << gaz << "\n" << gx << "\n" << expected;
  }
}

TEST(NormPool2d, OverlappingZeroWindowsAddUp) {
  // 3x3 all-zero input, 2x2 windows with stride 1: the centre is in 4 windows.
  auto x = torch::zeros({1, 3, 3}, torch::kFloat).requires_grad_();
  auto y = tiebreak::ops::norm_pool2d(x, {2, 2}, {1, 1}, {0, 0}, 1.0);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 2, 2}));
  y.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({{{1.f, 2.f, 1.f}, {2.f, 4.f, 2.f}, {1.f, 2.f, 1.f}}})));
}

TEST(NormPool2d, FiniteDifferencesOnNonzeroInputs) {
  torch::manual_seed(1);
  for (const auto& g : kGeometries) {
    // Entries bounded away from zero: the norm is smooth there.
    auto x = (torch::rand({1, 2, 5, 5}, torch::kDouble) + 0.5) * (torch::randint(0, 2, {1, 2, 5, 5}) * 2 - 1);
    auto weights = torch::randn(reference_forward(x, g).sizes(), torch::kDouble);
    auto xr = x.clone().requires_grad_();
    auto grad = torch::autograd::grad({(pool(xr, g) * weights).sum()}, {xr})[0];
    auto numeric = torch::zeros_like(x);
    const double h = 1e-6;
    for (int64_t i = 0; i < x.numel(); ++i) {
      auto plus = x.clone(), minus = x.clone();
      plus.view(-1)[i] += h;
      minus.view(-1)[i] -= h;
      numeric.view(-1)[i] =
          ((pool(plus, g) * weights).sum() - (pool(minus, g) * weights).sum()).item<double>() / (2 * h);
    }
    EXPECT_TRUE(torch::allclose(grad, numeric, 1e-6, 1e-7)) << "k=" << g.kh << "x" << g.kw;
  }
}

TEST(NormPool2d, HalfAccumulatesInFloat) {
  // 300² overflows Half (max 65504); the op-math sum in float does not.
  auto x = torch::full({1, 1, 2, 2}, 300.0, torch::kHalf).requires_grad_();
  auto y = tiebreak::ops::norm_pool2d(x, {2, 2});
  EXPECT_EQ(y.item<double>(), 600.0);
  y.backward(torch::full({1, 1, 1, 1}, 2.0, torch::kHalf));
  EXPECT_TRUE(torch::equal(x.grad(), torch::full({1, 1, 2, 2}, 1.0, torch::kHalf)));
}

TEST(NormPool2d, ChannelsLastMatchesContiguousAndKeepsLayout) {
  torch::manual_seed(2);
  for (auto dtype : {at::kFloat, at::kDouble, at::kHalf}) {
    for (const auto& g : kGeometries) {
      auto x = torch::randn({2, 5, 6, 7}, torch::kDouble).to(dtype);
      x.index_put_({1, torch::indexing::Slice(), torch::indexing::Slice(0, 2), torch::indexing::Slice(0, 2)},
                   0.0);
      auto xc = x.clone().requires_grad_();
      auto xl = x.contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
      auto yc = pool(xc, g, 1.0);
      auto yl = pool(xl, g, 1.0);
      EXPECT_TRUE(yl.is_contiguous(at::MemoryFormat::ChannelsLast));
      EXPECT_TRUE(torch::equal(yc, yl)) << dtype;
      auto gy = torch::randn(yc.sizes(), torch::kDouble).to(dtype);
      auto gc = torch::autograd::grad({yc}, {xc}, {gy})[0];
      auto gl = torch::autograd::grad({yl}, {xl}, {gy})[0];
      EXPECT_TRUE(gl.is_contiguous(at::MemoryFormat::ChannelsLast));
      EXPECT_TRUE(torch::equal(gc, gl)) << dtype;
    }
  }
}

TEST(NormPool2d, ThreeDimensionalInputAndDefaultStride) {
  auto x = torch::randn({3, 4, 4});
  auto y3 = tiebreak::ops::norm_pool2d(x, {2, 2});
  auto y4 = tiebreak::ops::norm_pool2d(x.unsqueeze(0), {2, 2}, {2, 2});
  EXPECT_TRUE(torch::equal(y3, y4.squeeze(0)));
  EXPECT_EQ(y3.sizes(), (std::vector<int64_t>{3, 2, 2}));
}

TEST(NormPool2d, DispatcherSchemasAreTheSharedOnes) {
  auto schema = [](const char* name) {
    std::ostringstream s;
    s << c10::Dispatcher::singleton().findSchemaOrThrow(name, "").schema();
    return s.str();
  };
  EXPECT_EQ(
      schema("tiebreak::norm_pool2d"),
      "tiebreak::norm_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, float "
      "grad_at_zero=0.) -> Tensor");
  EXPECT_EQ(
      schema("tiebreak::_norm_pool2d_forward"),
      "tiebreak::_norm_pool2d_forward(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, "
      "float grad_at_zero=0.) -> Tensor");
  EXPECT_EQ(
      schema("tiebreak::_norm_pool2d_backward"),
      "tiebreak::_norm_pool2d_backward(Tensor grad_output, Tensor self, Tensor output, int[2] kernel_size, "
      "int[2] stride, int[2] padding, float grad_at_zero) -> Tensor");
}

TEST(NormPool2d, RunsWithoutAutogradInInferenceMode) {
  c10::InferenceMode guard;
  auto x = torch::full({1, 1, 2, 2}, 2.0);
  EXPECT_EQ(tiebreak::ops::norm_pool2d(x, {2, 2}).item<float>(), 4.0f);
}

void expect_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(NormPool2d, ErrorsNameTheArgument) {
  auto x = torch::randn({1, 1, 4, 4});
  expect_error(
      [&] {
        tiebreak::ops::norm_pool2d(torch::ones({1, 1, 4, 4}, torch::kLong), {2, 2});
      },
      "floating point input");
  expect_error([&] { tiebreak::ops::norm_pool2d(torch::randn({4, 4}), {2, 2}); }, "3D (C, H, W) or 4D");
  expect_error([&] { tiebreak::ops::norm_pool2d(x, {0, 2}); }, "kernel_size must be greater than zero");
  expect_error([&] { tiebreak::ops::norm_pool2d(x, {2, 2}, {2, 2}, {2, 2}); }, "pad should be at most half");
  expect_error([&] { tiebreak::ops::norm_pool2d(x, {5, 5}); }, "too small");
  expect_error(
      [&] {
        tiebreak::ops::norm_pool2d(x, {2, 2}, {}, {0}, std::numeric_limits<double>::infinity());
      },
      "norm_pool2d: grad_at_zero must be finite, got inf");
  expect_error(
      [&] {
        tiebreak::ops::norm_pool2d(x.requires_grad_(), {2, 2}, {}, {0}, std::nan(""));
      },
      "norm_pool2d: grad_at_zero must be finite, got nan");
  expect_error(
      [&] {
        tiebreak::ops::norm_pool2d(torch::randn({2, 0, 8, 8}), {2, 2});
      },
      "norm_pool2d: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size");
}

TEST(NormPool2dModule, PrettyPrintAndFunctionalAgree) {
  NormPool2d pool(NormPool2dOptions(2));
  std::ostringstream s;
  s << *pool;
  EXPECT_EQ(s.str(), "tiebreak::nn::NormPool2d(kernel_size=[2, 2], stride=[2, 2], grad_at_zero=0)");
  NormPool2d padded(NormPool2dOptions(3).stride(1).padding(1).grad_at_zero(1.0));
  std::ostringstream s1;
  s1 << *padded;
  EXPECT_EQ(s1.str(),
            "tiebreak::nn::NormPool2d(kernel_size=[3, 3], stride=[1, 1], padding=[1, 1], grad_at_zero=1)");
  auto x = torch::randn({2, 3, 6, 6});
  EXPECT_TRUE(torch::equal(padded(x), tiebreak::nn::functional::norm_pool2d(
                                          x, NormPool2dOptions(3).stride(1).padding(1).grad_at_zero(1.0))));
  EXPECT_TRUE(torch::equal(padded(x), tiebreak::ops::norm_pool2d(x, {3, 3}, {1, 1}, {1, 1}, 1.0)));
  auto copy = std::dynamic_pointer_cast<tiebreak::nn::NormPool2dImpl>(padded->clone());
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->options.grad_at_zero(), 1.0);
}

}  // namespace
