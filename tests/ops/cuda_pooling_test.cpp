// The CUDA pooling kernels (src/ops/cuda/) reached through the dispatcher's
// internal ops, checked on the GPU against native ATen (forward values and indices, the β = 0
// backward) and against brute-force references written here: J_β in float64,
// the mixture formulation emulated step by step in the dtype, NormPool in
// float64, and against the CPU kernels (bit for bit where the two devices'
// arithmetic is the same by contract, ops/max_pool2d_math.h). Without a CUDA
// device (or without the CUDA kernels compiled in) every test skips with a
// message saying why, or fails when TIEBREAK_REQUIRE_CUDA=1.

#include "ops/cuda_test_support.h"
#include "ops/pool_geometry.h"
#include "tiebreak/core/build_info.h"
#include "tiebreak/ops/max_pool2d.h"
#include "tiebreak/ops/norm_pool2d.h"
#include "tiebreak/ops/relu.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace {

// NAN is a float: mixed with double literals it makes torch::tensor reject the list.
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using tiebreak::ops::PoolFormulation;
using tiebreak::ops::PoolGeometry;

const std::vector<at::ScalarType> kDtypes{at::kFloat, at::kDouble, at::kHalf, at::kBFloat16};

struct PoolArgs {
  int64_t kernel, stride, pad, dilation;
  bool ceil_mode;
};

std::string describe(const PoolArgs& a) {
  std::ostringstream s;
  s << "kernel " << a.kernel << " stride " << a.stride << " pad " << a.pad << " dilation " << a.dilation
    << (a.ceil_mode ? " ceil" : "");
  return s.str();
}

// Non-overlapping, overlapping (the paper's 3x3/s2/p1), dense, dilated, and
// ceil_mode windows that hang over the bottom/right edge.
const std::vector<PoolArgs> kGeometries{
    {2, 2, 0, 1, false}, {3, 2, 1, 1, false}, {3, 1, 1, 1, false},
    {3, 2, 1, 2, false}, {2, 2, 0, 1, true},  {3, 3, 1, 1, true},
};

tiebreak::ops::cuda_test::Geometry geometry_for(const at::Tensor& input, const PoolArgs& a) {
  return tiebreak::ops::cuda_test::geometry(input, a.kernel, a.stride, a.pad, a.dilation, a.ceil_mode);
}

at::Tensor on_cuda(const at::Tensor& t, bool channels_last) {
  return t.to(torch::kCUDA)
      .contiguous(channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
}

at::Tensor as_cpu_double(const at::Tensor& t) { return t.to(torch::kCPU, at::kDouble).contiguous(); }

/// Many ties: small integers, exact in every dtype.
at::Tensor tie_heavy(at::IntArrayRef sizes, at::ScalarType dtype, int64_t levels = 3) {
  return torch::randint(0, levels, sizes, torch::kDouble).to(dtype);
}

/// Gradients as the dtype holds them, so that the references read the same numbers.
at::Tensor random_grad(at::IntArrayRef sizes, at::ScalarType dtype) {
  return torch::randn(sizes, torch::kDouble).to(dtype);
}

/// Equal values (compared in float64, where every dtype is exact), NaN exactly
/// where the other has NaN.
::testing::AssertionResult same_values(const at::Tensor& actual, const at::Tensor& expected) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << "shape " << actual.sizes() << " vs expected " << expected.sizes();
  }
  const at::Tensor a = as_cpu_double(actual);
  const at::Tensor e = as_cpu_double(expected);
  const at::Tensor a_nan = a.isnan();
  const at::Tensor e_nan = e.isnan();
  if (!torch::equal(a_nan, e_nan)) {
    return ::testing::AssertionFailure() << "NaN positions differ: " << a_nan.sum().item<int64_t>() << " vs "
                                         << e_nan.sum().item<int64_t>() << " expected";
  }
  const at::Tensor diff = a.masked_fill(a_nan, 0) != e.masked_fill(e_nan, 0);
  if (diff.any().item<bool>()) {
    const int64_t first = diff.flatten().nonzero()[0].item<int64_t>();
    return ::testing::AssertionFailure()
           << diff.sum().item<int64_t>() << " of " << a.numel() << " values differ; first at flat " << first
           << ": " << a.flatten()[first].item<double>() << " vs expected "
           << e.flatten()[first].item<double>();
  }
  return ::testing::AssertionSuccess();
}

struct Tolerance {
  double rtol, atol;
};

/// About one unit in the last place of the dtype (for Float, of a sum of a few
/// terms): the kernels accumulate in op-math (float for Half/BFloat16), the
/// float64 references do not.
Tolerance tolerance_for(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble:
      return {1e-12, 1e-12};
    case at::kFloat:
      return {1e-5, 1e-5};
    case at::kHalf:
      return {2e-3, 2e-3};
    default:
      return {1.6e-2, 1.6e-2};
  }
}

::testing::AssertionResult close_values(const at::Tensor& actual, const at::Tensor& expected) {
  const at::Tensor a = as_cpu_double(actual);
  const at::Tensor e = as_cpu_double(expected);
  const Tolerance tol = tolerance_for(actual.scalar_type());
  if (a.sizes() != e.sizes()) {
    return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs expected " << e.sizes();
  }
  if (!torch::allclose(a, e, tol.rtol, tol.atol)) {
    return ::testing::AssertionFailure() << "max abs difference " << (a - e).abs().max().item<double>()
                                         << " above rtol " << tol.rtol << " / atol " << tol.atol;
  }
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------
// Brute-force references (CPU, NCHW output order). Window taps follow the
// textbook definition (oh·stride − pad + k·dilation, kept when inside the
// input), not the kernels' window_range.

struct ReferenceWindow {
  int64_t argmax = 0;         // i*_w as a flat ih * W + iw
  std::vector<int64_t> taps;  // in scan order (rows, then columns)
  std::vector<int64_t> ties;  // T_w
  double max = 0;
};

std::vector<int64_t> window_taps(int64_t oh, int64_t ow, const PoolGeometry& g) {
  std::vector<int64_t> taps;
  for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
    const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
    if (ih < 0 || ih >= g.input_h) continue;
    for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
      const int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
      if (iw < 0 || iw >= g.input_w) continue;
      taps.push_back(ih * g.input_w + iw);
    }
  }
  return taps;
}

/// Per output element (n, c, oh, ow) in row-major order: ATen's selection rule
/// (first maximum wins, any NaN takes over), and the positions equal to the max.
std::vector<ReferenceWindow> reference_windows(const at::Tensor& input, const PoolGeometry& g) {
  const at::Tensor x = as_cpu_double(input);
  const int64_t planes = x.size(0) * x.size(1);
  const double* data = x.const_data_ptr<double>();
  std::vector<ReferenceWindow> windows;
  windows.reserve(planes * g.output_h * g.output_w);
  for (int64_t plane = 0; plane < planes; ++plane) {
    const double* px = data + plane * g.input_h * g.input_w;
    for (int64_t oh = 0; oh < g.output_h; ++oh) {
      for (int64_t ow = 0; ow < g.output_w; ++ow) {
        ReferenceWindow w;
        w.taps = window_taps(oh, ow, g);
        w.argmax = w.taps.front();
        w.max = -std::numeric_limits<double>::infinity();
        for (int64_t tap : w.taps) {
          if (px[tap] > w.max || std::isnan(px[tap])) {
            w.max = px[tap];
            w.argmax = tap;
          }
        }
        if (std::isnan(w.max)) {
          w.ties = {w.argmax};
        } else {
          for (int64_t tap : w.taps) {
            if (px[tap] == w.max) w.ties.push_back(tap);
          }
        }
        windows.push_back(std::move(w));
      }
    }
  }
  return windows;
}

at::Tensor reference_tie_counts(const std::vector<ReferenceWindow>& windows, const at::Tensor& like) {
  std::vector<int32_t> counts;
  for (const auto& w : windows) counts.push_back(static_cast<int32_t>(w.ties.size()));
  return torch::tensor(counts, torch::kInt).reshape(like.sizes());
}

at::Tensor reference_indices(const std::vector<ReferenceWindow>& windows, const at::Tensor& like) {
  std::vector<int64_t> indices;
  for (const auto& w : windows) indices.push_back(w.argmax);
  return torch::tensor(indices, torch::kLong).reshape(like.sizes());
}

/// J_β^T g in float64: Σ_w [l ∈ T_w]·β/t_w·g_w + [l = i*_w]·(1−β)·g_w, unrounded.
at::Tensor pure_backward_reference(const std::vector<ReferenceWindow>& windows, const at::Tensor& grad_output,
                                   const at::Tensor& input, double beta) {
  const at::Tensor g = as_cpu_double(grad_output);
  at::Tensor grad = torch::zeros(input.sizes(), torch::kDouble);
  double* out = grad.mutable_data_ptr<double>();
  const int64_t plane_in = input.size(2) * input.size(3);
  const int64_t plane_out = g.size(2) * g.size(3);
  const double* gd = g.const_data_ptr<double>();
  for (size_t o = 0; o < windows.size(); ++o) {
    const auto& w = windows[o];
    double* plane = out + (static_cast<int64_t>(o) / plane_out) * plane_in;
    const double t = static_cast<double>(w.ties.size());
    for (int64_t l : w.ties) plane[l] += beta / t * gd[o];
    plane[w.argmax] += (1.0 - beta) * gd[o];
  }
  return grad;
}

/// The mixture formulation β·MinNormPool(x) + (1−β)·NativePool(x) as PyTorch
/// evaluates it: each tensor op in op-math, rounded to the dtype.
template <typename scalar_t>
struct MixtureReference {
  using opmath_t = at::opmath_type<scalar_t>;
  static opmath_t round(opmath_t v) { return static_cast<opmath_t>(static_cast<scalar_t>(v)); }

  static at::Tensor forward(const std::vector<ReferenceWindow>& windows, double beta,
                            const at::Tensor& like) {
    // ATen's CUDA kernels cast a Python-float scalar to the dtype first.
    const auto b = round(static_cast<opmath_t>(beta));
    const auto nb = round(static_cast<opmath_t>(1.0 - beta));
    std::vector<double> out;
    for (const auto& w : windows) {
      const auto m = static_cast<opmath_t>(w.max);
      out.push_back(static_cast<double>(round(round(b * m) + round(nb * m))));
    }
    return torch::tensor(out, torch::kDouble).reshape(like.sizes());
  }

  static at::Tensor backward(const std::vector<ReferenceWindow>& windows, const at::Tensor& grad_output,
                             const at::Tensor& input, double beta) {
    // ATen's CUDA kernels cast a Python-float scalar to the dtype first.
    const auto b = round(static_cast<opmath_t>(beta));
    const auto nb = round(static_cast<opmath_t>(1.0 - beta));
    const at::Tensor g = as_cpu_double(grad_output);
    const double* gd = g.const_data_ptr<double>();
    const int64_t plane_in = input.size(2) * input.size(3);
    const int64_t plane_out = g.size(2) * g.size(3);
    std::vector<opmath_t> tie_share(input.numel(), 0), native(input.numel(), 0);
    for (size_t o = 0; o < windows.size(); ++o) {
      const auto& w = windows[o];
      const int64_t base = (static_cast<int64_t>(o) / plane_out) * plane_in;
      const auto gw = static_cast<opmath_t>(gd[o]);
      const opmath_t g_beta = round(b * gw);
      const opmath_t g_native = round(nb * gw);
      const auto t = static_cast<opmath_t>(w.ties.size());
      for (int64_t l : w.ties) tie_share[base + l] += round(g_beta / t);
      native[base + w.argmax] += g_native;
    }
    std::vector<double> grad(input.numel());
    for (size_t l = 0; l < grad.size(); ++l) {
      grad[l] = static_cast<double>(round(round(tie_share[l]) + round(native[l])));
    }
    return torch::tensor(grad, torch::kDouble).reshape(input.sizes());
  }
};

at::Tensor mixture_forward_reference(const std::vector<ReferenceWindow>& windows, double beta,
                                     const at::Tensor& output) {
  at::Tensor result;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, output.scalar_type(), "mixture_forward_reference",
      [&] { result = MixtureReference<scalar_t>::forward(windows, beta, output); });
  return result;
}

at::Tensor mixture_backward_reference(const std::vector<ReferenceWindow>& windows,
                                      const at::Tensor& grad_output, const at::Tensor& input, double beta) {
  at::Tensor result;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, input.scalar_type(), "mixture_backward_reference",
      [&] { result = MixtureReference<scalar_t>::backward(windows, grad_output, input, beta); });
  return result;
}

/// NormPool in float64: the forward sqrt(Σ x²), and the backward Σ g·x/out
/// (grad_at_zero·g on windows with out = 0) given the forward's `output` as
/// the kernel receives it (the dtype-rounded norms).
std::pair<at::Tensor, at::Tensor> norm_pool_reference(const at::Tensor& input, const at::Tensor& output,
                                                      const at::Tensor& grad_output, const PoolGeometry& g,
                                                      double grad_at_zero) {
  const at::Tensor x = as_cpu_double(input);
  const at::Tensor given_out = as_cpu_double(output);
  const at::Tensor go = as_cpu_double(grad_output);
  at::Tensor out = torch::zeros(go.sizes(), torch::kDouble);
  at::Tensor grad = torch::zeros(x.sizes(), torch::kDouble);
  const int64_t planes = x.size(0) * x.size(1);
  const int64_t plane_in = g.input_h * g.input_w;
  const int64_t plane_out = g.output_h * g.output_w;
  for (int64_t p = 0; p < planes; ++p) {
    const double* px = x.const_data_ptr<double>() + p * plane_in;
    double* pg = grad.mutable_data_ptr<double>() + p * plane_in;
    for (int64_t oh = 0; oh < g.output_h; ++oh) {
      for (int64_t ow = 0; ow < g.output_w; ++ow) {
        const int64_t o = p * plane_out + oh * g.output_w + ow;
        const auto taps = window_taps(oh, ow, g);
        double sum_sq = 0;
        for (int64_t l : taps) sum_sq += px[l] * px[l];
        out.mutable_data_ptr<double>()[o] = std::sqrt(sum_sq);
        const double norm = given_out.const_data_ptr<double>()[o];
        const double gw = go.const_data_ptr<double>()[o];
        for (int64_t l : taps) pg[l] += norm == 0 ? grad_at_zero * gw : gw * px[l] / norm;
      }
    }
  }
  return {out, grad};
}

// The references above are the GPU tests' oracle: check them against native
// ATen on the CPU (this runs on every machine).
TEST(CudaPoolingReferenceTest, ReferenceSelectionAndNativeGradientAgreeWithAtenOnCpu) {
  torch::manual_seed(11);
  for (at::ScalarType dtype : kDtypes) {
    for (const PoolArgs& args : kGeometries) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " " + describe(args));
      at::Tensor x = tie_heavy({2, 3, 9, 11}, dtype);
      x.masked_fill_(torch::rand(x.sizes()) < 0.05, NAN);
      const auto g = geometry_for(x, args);
      const auto [native_out, native_indices] = at::max_pool2d_with_indices(
          x, {args.kernel}, {args.stride}, {args.pad}, {args.dilation}, args.ceil_mode);
      const auto windows = reference_windows(x, g);
      EXPECT_TRUE(torch::equal(reference_indices(windows, native_indices), native_indices));
      // Native CPU pooling, like the reference, returns the selected value.
      std::vector<double> maxima;
      for (const auto& w : windows) maxima.push_back(w.max);
      EXPECT_TRUE(same_values(torch::tensor(maxima, torch::kDouble).reshape(native_out.sizes()), native_out));
      // ATen's CPU backward accumulates Half/BFloat16 in the dtype: compare where it does not.
      if (dtype == at::kFloat || dtype == at::kDouble) {
        const at::Tensor grad = random_grad(native_out.sizes(), dtype);
        const at::Tensor native_grad =
            at::max_pool2d_with_indices_backward(grad, x, {args.kernel}, {args.stride}, {args.pad},
                                                 {args.dilation}, args.ceil_mode, native_indices);
        EXPECT_TRUE(close_values(native_grad, pure_backward_reference(windows, grad, x, 0.0)));
      }
    }
  }
}

class CudaPoolingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TIEBREAK_REQUIRE_CUDA_OR_SKIP();
    torch::manual_seed(20240601);
  }
};

// ---------------------------------------------------------------------------
// MaxPool forward

TEST_F(CudaPoolingTest, MaxPoolPureForwardMatchesNativeValuesAndIndicesBitForBit) {
  for (at::ScalarType dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      for (const PoolArgs& args : kGeometries) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + (channels_last ? " NHWC " : " NCHW ") +
                     describe(args));
        const at::Tensor x = on_cuda(tie_heavy({2, 5, 9, 11}, dtype), channels_last);
        const auto g = geometry_for(x, args);
        const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, 0.5, PoolFormulation::Pure);
        const auto [native_out, native_indices] = at::max_pool2d_with_indices(
            x, {args.kernel}, {args.stride}, {args.pad}, {args.dilation}, args.ceil_mode);
        EXPECT_TRUE(same_values(out, native_out));
        EXPECT_TRUE(torch::equal(indices.cpu(), native_indices.cpu()));
        EXPECT_EQ(out.scalar_type(), dtype);
        EXPECT_EQ(indices.scalar_type(), at::kLong);
        EXPECT_EQ(ties.scalar_type(), at::kInt);
        const auto windows = reference_windows(x, g);
        EXPECT_TRUE(torch::equal(ties.cpu().contiguous(), reference_tie_counts(windows, ties)));
        EXPECT_TRUE(torch::equal(indices.cpu().contiguous(), reference_indices(windows, indices)));
        const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
        EXPECT_TRUE(out.is_contiguous(format));
        EXPECT_TRUE(indices.is_contiguous(format));
        EXPECT_TRUE(ties.is_contiguous(format));
      }
    }
  }
}

TEST_F(CudaPoolingTest, MaxPoolForwardFollowsNativeOnNaNsLastNaNWinsWithOneTie) {
  for (at::ScalarType dtype : kDtypes) {
    SCOPED_TRACE(c10::toString(dtype));
    // One window holding two NaNs: native max_pool2d selects the later one.
    const at::Tensor two_nans = torch::tensor({kNaN, 1.0, kNaN, 2.0}, torch::kDouble)
                                    .reshape({1, 1, 2, 2})
                                    .to(dtype)
                                    .to(torch::kCUDA);
    const auto g2 = geometry_for(two_nans, {2, 2, 0, 1, false});
    const auto [out, indices, ties] = max_pool2d_forward_cuda(two_nans, g2, 0.5, PoolFormulation::Pure);
    EXPECT_TRUE(std::isnan(out.item<double>()));
    EXPECT_EQ(indices.item<int64_t>(), 2);
    EXPECT_EQ(ties.item<int32_t>(), 1);
    const auto [native_out, native_indices] =
        at::max_pool2d_with_indices(two_nans, {2}, {2}, {0}, {1}, false);
    EXPECT_EQ(native_indices.item<int64_t>(), indices.item<int64_t>());

    for (bool channels_last : {false, true}) {
      SCOPED_TRACE(channels_last ? "NHWC" : "NCHW");
      at::Tensor x = tie_heavy({2, 3, 10, 10}, dtype);
      x.masked_fill_(torch::rand(x.sizes()) < 0.08, NAN);
      x = on_cuda(x, channels_last);
      const PoolArgs args{3, 2, 1, 1, false};
      const auto g = geometry_for(x, args);
      const auto [o, i, t] = max_pool2d_forward_cuda(x, g, 2.0, PoolFormulation::Pure);
      const auto [no, ni] = at::max_pool2d_with_indices(x, {3}, {2}, {1}, {1}, false);
      EXPECT_TRUE(same_values(o, no));
      EXPECT_TRUE(torch::equal(i.cpu(), ni.cpu()));
      const auto windows = reference_windows(x, g);
      EXPECT_TRUE(torch::equal(t.cpu().contiguous(), reference_tie_counts(windows, t)));
      EXPECT_TRUE(o.isnan().any().item<bool>()) << "the test input should produce NaN windows";
    }
  }
}

TEST_F(CudaPoolingTest, MaxPoolMixtureForwardRoundsEachTermInTheDtype) {
  for (at::ScalarType dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      for (double beta : {0.0, 0.3, 2.0, 1000.0}) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + (channels_last ? " NHWC" : " NCHW") +
                     " beta=" + std::to_string(beta));
        const at::Tensor x =
            on_cuda(torch::randn({2, 4, 8, 9}, torch::kDouble).mul(3).to(dtype), channels_last);
        const auto g = geometry_for(x, {3, 2, 1, 1, false});
        const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, beta, PoolFormulation::Mixture);
        EXPECT_TRUE(same_values(out, mixture_forward_reference(reference_windows(x, g), beta, out)));
        // The expression itself, evaluated tensor by tensor by ATen (MinNormPool's
        // forward is the max too). ATen's CUDA tensor-scalar kernels round the
        // scalar to the dtype first (its CPU kernels do not), so this only holds
        // where β and 1−β are exact in the dtype.
        const auto exact = [&](double v) { return torch::scalar_tensor(v, dtype).item<double>() == v; };
        if (exact(beta) && exact(1.0 - beta)) {
          const at::Tensor native = std::get<0>(at::max_pool2d_with_indices(x, {3}, {2}, {1}, {1}, false));
          EXPECT_TRUE(same_values(out, native * beta + native * (1.0 - beta)));
        }
      }
    }
  }
}

TEST_F(CudaPoolingTest, MaxPoolMixtureForwardOverflowsToNaNInHalfLikePyTorch) {
  // β = 1000, m = 70: 1000·70 rounds to +inf in fp16 and −999·70 to −inf; their sum is NaN.
  const at::Tensor x =
      torch::full({1, 1, 2, 2}, 70.0, torch::TensorOptions().dtype(at::kHalf).device(torch::kCUDA));
  const auto g = geometry_for(x, {2, 2, 0, 1, false});
  const auto mixture = max_pool2d_forward_cuda(x, g, 1000.0, PoolFormulation::Mixture);
  EXPECT_TRUE(std::isnan(std::get<0>(mixture).item<double>()));
  const auto pure = max_pool2d_forward_cuda(x, g, 1000.0, PoolFormulation::Pure);
  EXPECT_EQ(std::get<0>(pure).item<double>(), 70.0);
  EXPECT_EQ(std::get<2>(pure).item<int32_t>(), 4);
}

// ---------------------------------------------------------------------------
// MaxPool backward

TEST_F(CudaPoolingTest, MaxPoolBackwardOnATwoWayTieMatchesTheBetaJacobianForEveryBeta) {
  // Window [[1, 1], [0, 0]]: i* = 0, T = {0, 1}, t = 2, upstream gradient 1.
  for (at::ScalarType dtype : kDtypes) {
    for (double beta : {-1.0, 0.0, 0.5, 1.0, 2.0, 10.0, 1000.0}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " beta=" + std::to_string(beta));
      const auto options = torch::TensorOptions().dtype(dtype).device(torch::kCUDA);
      const at::Tensor x =
          torch::tensor({1.0, 1.0, 0.0, 0.0}, torch::kDouble).reshape({1, 1, 2, 2}).to(options);
      const at::Tensor grad = torch::ones({1, 1, 1, 1}, options);
      const auto g = geometry_for(x, {2, 2, 0, 1, false});
      for (PoolFormulation formulation : {PoolFormulation::Pure, PoolFormulation::Mixture}) {
        const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, beta, formulation);
        const at::Tensor grad_input = max_pool2d_backward_cuda(grad, x, indices, ties, g, beta, formulation);
        // Every term is exact in float: both formulations give J_β rounded once.
        const at::Tensor expected =
            torch::tensor({beta / 2 + (1 - beta), beta / 2, 0.0, 0.0}, torch::kDouble).reshape({1, 1, 2, 2});
        EXPECT_TRUE(same_values(grad_input, expected.to(dtype))) << tiebreak::ops::to_string(formulation);
      }
    }
  }
  // The paper's β = 1000 example, spelled out.
  const at::Tensor x = torch::tensor({1.0f, 1.0f, 0.0f, 0.0f}).reshape({1, 1, 2, 2}).to(torch::kCUDA);
  const auto g = geometry_for(x, {2, 2, 0, 1, false});
  const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, 1000.0, PoolFormulation::Pure);
  const at::Tensor grad_input = max_pool2d_backward_cuda(torch::ones({1, 1, 1, 1}, x.options()), x, indices,
                                                         ties, g, 1000.0, PoolFormulation::Pure);
  EXPECT_TRUE(torch::equal(grad_input.cpu().flatten(), torch::tensor({-499.0f, 500.0f, 0.0f, 0.0f})));
}

TEST_F(CudaPoolingTest, MaxPoolPureBackwardMatchesFloat64BetaJacobianOnOverlappingTiedWindows) {
  for (at::ScalarType dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      for (const PoolArgs& args : kGeometries) {
        for (double beta : {0.5, 1.0, 2.0, -0.7}) {
          SCOPED_TRACE(std::string(c10::toString(dtype)) + (channels_last ? " NHWC " : " NCHW ") +
                       describe(args) + " beta=" + std::to_string(beta));
          const at::Tensor x = on_cuda(tie_heavy({2, 4, 9, 11}, dtype, 2), channels_last);
          const auto g = geometry_for(x, args);
          const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, beta, PoolFormulation::Pure);
          const at::Tensor grad = on_cuda(random_grad(out.sizes(), dtype), channels_last);
          const at::Tensor grad_input =
              max_pool2d_backward_cuda(grad, x, indices, ties, g, beta, PoolFormulation::Pure);
          const at::Tensor expected = pure_backward_reference(reference_windows(x, g), grad, x, beta);
          EXPECT_TRUE(close_values(grad_input, expected));
          EXPECT_EQ(grad_input.scalar_type(), dtype);
          EXPECT_TRUE(grad_input.is_contiguous(channels_last ? at::MemoryFormat::ChannelsLast
                                                             : at::MemoryFormat::Contiguous));
        }
      }
    }
  }
}

TEST_F(CudaPoolingTest, MaxPoolPureBackwardAtBetaZeroIsNativeBackwardBitForBit) {
  for (at::ScalarType dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      for (const PoolArgs& args : kGeometries) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + (channels_last ? " NHWC " : " NCHW ") +
                     describe(args));
        const at::Tensor x = on_cuda(tie_heavy({2, 4, 9, 11}, dtype, 2), channels_last);
        const auto g = geometry_for(x, args);
        const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, 0.0, PoolFormulation::Pure);
        const at::Tensor grad = on_cuda(random_grad(out.sizes(), dtype), channels_last);
        const at::Tensor grad_input =
            max_pool2d_backward_cuda(grad, x, indices, ties, g, 0.0, PoolFormulation::Pure);
        const at::Tensor native = at::max_pool2d_with_indices_backward(
            grad, x, {args.kernel}, {args.stride}, {args.pad}, {args.dilation}, args.ceil_mode, indices);
        EXPECT_TRUE(same_values(grad_input, native));
      }
    }
  }
}

TEST_F(CudaPoolingTest, MaxPoolPureBackwardGivesUntiedWindowsExactlyTheirGradient) {
  // With distinct values every t_w = 1, so any β must give native's gradient
  // bit for bit (not β·g + (1−β)·g, which rounds differently for β = 0.3).
  for (at::ScalarType dtype : kDtypes) {
    SCOPED_TRACE(c10::toString(dtype));
    // 128 distinct integers: exact even in bfloat16.
    const at::Tensor x = torch::randperm(128, torch::kDouble).reshape({1, 2, 8, 8}).to(dtype).cuda();
    const auto g = geometry_for(x, {3, 2, 1, 1, false});
    const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, 0.3, PoolFormulation::Pure);
    ASSERT_TRUE(torch::equal(ties, torch::ones_like(ties)));
    const at::Tensor grad = random_grad(out.sizes(), dtype).cuda();
    const at::Tensor grad_input =
        max_pool2d_backward_cuda(grad, x, indices, ties, g, 0.3, PoolFormulation::Pure);
    const at::Tensor native =
        at::max_pool2d_with_indices_backward(grad, x, {3}, {2}, {1}, {1}, false, indices);
    EXPECT_TRUE(same_values(grad_input, native));
  }
}

TEST_F(CudaPoolingTest, MaxPoolMixtureBackwardMatchesTheDtypeEmulationBitForBit) {
  for (at::ScalarType dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      for (const PoolArgs& args : kGeometries) {
        for (double beta : {0.3, 1.0, 2.0, 1000.0}) {
          SCOPED_TRACE(std::string(c10::toString(dtype)) + (channels_last ? " NHWC " : " NCHW ") +
                       describe(args) + " beta=" + std::to_string(beta));
          const at::Tensor x = on_cuda(tie_heavy({2, 4, 9, 11}, dtype, 2), channels_last);
          const auto g = geometry_for(x, args);
          const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, beta, PoolFormulation::Mixture);
          const at::Tensor grad = on_cuda(random_grad(out.sizes(), dtype), channels_last);
          const at::Tensor grad_input =
              max_pool2d_backward_cuda(grad, x, indices, ties, g, beta, PoolFormulation::Mixture);
          EXPECT_TRUE(
              same_values(grad_input, mixture_backward_reference(reference_windows(x, g), grad, x, beta)));
        }
      }
    }
  }
}

TEST_F(CudaPoolingTest, MaxPoolBackwardGivesANaNWindowsGradientToItsSelectedNaN) {
  for (at::ScalarType dtype : kDtypes) {
    SCOPED_TRACE(c10::toString(dtype));
    const at::Tensor x = torch::tensor({kNaN, 1.0, kNaN, 1.0}, torch::kDouble)
                             .reshape({1, 1, 2, 2})
                             .to(dtype)
                             .to(torch::kCUDA);
    const auto g = geometry_for(x, {2, 2, 0, 1, false});
    const at::Tensor grad = torch::full({1, 1, 1, 1}, 3.0, x.options());
    for (PoolFormulation formulation : {PoolFormulation::Pure, PoolFormulation::Mixture}) {
      const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, 0.5, formulation);
      const at::Tensor grad_input = max_pool2d_backward_cuda(grad, x, indices, ties, g, 0.5, formulation);
      EXPECT_TRUE(same_values(grad_input, torch::tensor({0.0, 0.0, 3.0, 0.0}).reshape({1, 1, 2, 2})))
          << tiebreak::ops::to_string(formulation);
    }
  }
}

TEST_F(CudaPoolingTest, MaxPoolNHWCAndNCHWGiveTheSameResultsBitForBit) {
  for (at::ScalarType dtype : kDtypes) {
    for (PoolFormulation formulation : {PoolFormulation::Pure, PoolFormulation::Mixture}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " " + tiebreak::ops::to_string(formulation));
      const at::Tensor cpu_x = tie_heavy({3, 6, 13, 10}, dtype, 2);
      const at::Tensor x_nchw = on_cuda(cpu_x, false);
      const at::Tensor x_nhwc = on_cuda(cpu_x, true);
      const auto g = geometry_for(x_nchw, {3, 2, 1, 1, false});
      const auto [o1, i1, t1] = max_pool2d_forward_cuda(x_nchw, g, 0.7, formulation);
      const auto [o2, i2, t2] = max_pool2d_forward_cuda(x_nhwc, g, 0.7, formulation);
      EXPECT_TRUE(same_values(o1, o2));
      EXPECT_TRUE(torch::equal(i1.cpu(), i2.cpu()));
      EXPECT_TRUE(torch::equal(t1.cpu(), t2.cpu()));
      const at::Tensor grad = random_grad(o1.sizes(), dtype);
      const at::Tensor gi1 =
          max_pool2d_backward_cuda(on_cuda(grad, false), x_nchw, i1, t1, g, 0.7, formulation);
      // Mixed layouts on purpose: the NHWC input decides the layout of everything.
      const at::Tensor gi2 =
          max_pool2d_backward_cuda(on_cuda(grad, false), x_nhwc, i2, t2, g, 0.7, formulation);
      EXPECT_TRUE(same_values(gi1, gi2));
      EXPECT_TRUE(gi2.is_contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
}

TEST_F(CudaPoolingTest, MaxPoolBackwardIsDeterministicAcrossRuns) {
  const at::Tensor x = tie_heavy({8, 32, 40, 40}, at::kFloat, 2).cuda();
  const auto g = geometry_for(x, {3, 1, 1, 1, false});
  for (PoolFormulation formulation : {PoolFormulation::Pure, PoolFormulation::Mixture}) {
    const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, 0.37, formulation);
    const at::Tensor grad = torch::randn(out.sizes(), x.options());
    const at::Tensor first = max_pool2d_backward_cuda(grad, x, indices, ties, g, 0.37, formulation);
    for (int run = 0; run < 3; ++run) {
      const at::Tensor again = max_pool2d_backward_cuda(grad, x, indices, ties, g, 0.37, formulation);
      EXPECT_TRUE(torch::equal(first, again)) << tiebreak::ops::to_string(formulation) << " run " << run;
    }
  }
}

TEST_F(CudaPoolingTest, PoolingHandlesAnEmptyBatch) {
  for (bool channels_last : {false, true}) {
    SCOPED_TRACE(channels_last ? "NHWC" : "NCHW");
    const at::Tensor x = on_cuda(torch::zeros({0, 3, 8, 8}), channels_last);
    const auto g = geometry_for(x, {2, 2, 0, 1, false});
    const auto [out, indices, ties] = max_pool2d_forward_cuda(x, g, 0.5, PoolFormulation::Pure);
    EXPECT_EQ(out.sizes(), (at::IntArrayRef{0, 3, 4, 4}));
    EXPECT_EQ(indices.sizes(), (at::IntArrayRef{0, 3, 4, 4}));
    EXPECT_EQ(ties.sizes(), (at::IntArrayRef{0, 3, 4, 4}));
    const at::Tensor grad_input =
        max_pool2d_backward_cuda(out, x, indices, ties, g, 0.5, PoolFormulation::Mixture);
    EXPECT_EQ(grad_input.sizes(), x.sizes());
    const at::Tensor norm = norm_pool2d_forward_cuda(x, g);
    EXPECT_EQ(norm.sizes(), (at::IntArrayRef{0, 3, 4, 4}));
    EXPECT_EQ(norm_pool2d_backward_cuda(norm, x, norm, g, 0.0).sizes(), x.sizes());
  }
}

// ---------------------------------------------------------------------------
// NormPool

TEST_F(CudaPoolingTest, NormPoolMatchesFloat64ReferenceForwardAndBackward) {
  for (at::ScalarType dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      for (const PoolArgs& args : kGeometries) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + (channels_last ? " NHWC " : " NCHW ") +
                     describe(args));
        const at::Tensor x = on_cuda(torch::randn({2, 4, 9, 11}, torch::kDouble).to(dtype), channels_last);
        const auto g = geometry_for(x, args);
        const at::Tensor out = norm_pool2d_forward_cuda(x, g);
        const at::Tensor grad = on_cuda(random_grad(out.sizes(), dtype), channels_last);
        const at::Tensor grad_input = norm_pool2d_backward_cuda(grad, x, out, g, 0.0);
        const auto [ref_out, ref_grad] = norm_pool_reference(x, out, grad, g, 0.0);
        EXPECT_TRUE(close_values(out, ref_out));
        EXPECT_TRUE(close_values(grad_input, ref_grad));
        const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
        EXPECT_TRUE(out.is_contiguous(format));
        EXPECT_TRUE(grad_input.is_contiguous(format));
      }
    }
  }
}

TEST_F(CudaPoolingTest, NormPoolGivesAllZeroWindowsTheChosenGradient) {
  for (at::ScalarType dtype : kDtypes) {
    for (double grad_at_zero : {0.0, 0.5}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " grad_at_zero=" + std::to_string(grad_at_zero));
      // Top-left 2x2 window all zero, the others not.
      const at::Tensor x =
          torch::tensor({0., 0., 3., 4., 0., 0., 0., 0., 1., 2., 2., 1., 0., 2., 0., 0.}, torch::kDouble)
              .reshape({1, 1, 4, 4})
              .to(dtype)
              .cuda();
      const auto g = geometry_for(x, {2, 2, 0, 1, false});
      const at::Tensor out = norm_pool2d_forward_cuda(x, g);
      EXPECT_TRUE(same_values(
          out, torch::tensor({0., 5., 3., std::sqrt(5.)}, torch::kDouble).reshape({1, 1, 2, 2}).to(dtype)));
      const at::Tensor grad =
          torch::tensor({2., 1., 1., 1.}, torch::kDouble).reshape({1, 1, 2, 2}).to(x.options());
      const at::Tensor grad_input = norm_pool2d_backward_cuda(grad, x, out, g, grad_at_zero);
      const at::Tensor top_left =
          grad_input.cpu()
              .to(torch::kDouble)
              .index({0, 0, torch::indexing::Slice(0, 2), torch::indexing::Slice(0, 2)});
      EXPECT_TRUE(torch::equal(top_left, torch::full({2, 2}, 2.0 * grad_at_zero, torch::kDouble)));
      const auto [ref_out, ref_grad] = norm_pool_reference(x, out, grad, g, grad_at_zero);
      EXPECT_TRUE(close_values(grad_input, ref_grad));
    }
  }
}

// ---------------------------------------------------------------------------
// The CUDA kernels against the CPU kernels, through the public operators and
// autograd. Bit for bit wherever ops/max_pool2d_math.h makes the two devices'
// arithmetic the same: the pure formulation always (the same accumulator
// types, the same window order); NormPool always; the mixture for Float and
// Double, and for Half/BFloat16 on disjoint windows with a β exact in the
// dtype (overlapping Half/BFloat16 windows accumulate in the dtype on the CPU
// and in op-math on CUDA, as native max_pool2d does on each).

TEST_F(CudaPoolingTest, CudaAndCpuOperatorsAgreeBitForBit) {
  using tiebreak::ops::PoolFormulation;
  for (at::ScalarType dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      for (const PoolArgs& args : kGeometries) {
        at::Tensor x = tie_heavy({2, 3, 9, 11}, dtype);
        x.masked_fill_(torch::rand(x.sizes()) < 0.03, NAN);
        const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
        x = x.contiguous(format);
        const bool disjoint = args.stride >= (args.kernel - 1) * args.dilation + 1;
        const bool reduced = dtype == at::kHalf || dtype == at::kBFloat16;
        for (auto formulation : {PoolFormulation::Pure, PoolFormulation::Mixture}) {
          for (double beta : {0.0, 1.0, 0.5, -2.0, 1000.0, 0.3}) {
            const bool exact_beta = beta != 0.3 && !(dtype == at::kBFloat16 && beta == 1000.0);
            if (formulation == PoolFormulation::Mixture && reduced && (!disjoint || !exact_beta)) continue;
            SCOPED_TRACE(std::string(c10::toString(dtype)) + (channels_last ? " NHWC " : " NCHW ") +
                         describe(args) + " " + tiebreak::ops::to_string(formulation) +
                         " beta=" + std::to_string(beta));
            auto run = [&](const at::Tensor& input, const at::Tensor& grad) {
              auto leaf = input.detach().clone().requires_grad_(true);
              auto y = tiebreak::ops::max_pool2d(leaf, {args.kernel}, {args.stride}, {args.pad},
                                                 {args.dilation}, args.ceil_mode, beta, formulation);
              y.backward(grad);
              return std::make_pair(y.detach(), leaf.grad());
            };
            const at::Tensor grad = random_grad(at::max_pool2d(x.to(at::kFloat), {args.kernel}, {args.stride},
                                                               {args.pad}, {args.dilation}, args.ceil_mode)
                                                    .sizes(),
                                                dtype);
            const auto [cpu_y, cpu_grad] = run(x, grad);
            const auto [cuda_y, cuda_grad] = run(x.to(torch::kCUDA), grad.to(torch::kCUDA));
            EXPECT_TRUE(same_values(cuda_y, cpu_y));
            EXPECT_TRUE(same_values(cuda_grad, cpu_grad));
            EXPECT_EQ(cuda_grad.is_contiguous(format), true);
          }
        }
        if (args.dilation == 1 && !args.ceil_mode) {
          SCOPED_TRACE(std::string("norm_pool2d ") + c10::toString(dtype) + " " + describe(args));
          const at::Tensor v = torch::randn(x.sizes(), torch::kDouble).to(dtype).contiguous(format);
          auto run = [&](const at::Tensor& input) {
            auto leaf = input.detach().clone().requires_grad_(true);
            auto y = tiebreak::ops::norm_pool2d(leaf, {args.kernel}, {args.stride}, {args.pad}, 1.0);
            y.backward(torch::ones_like(y));
            return std::make_pair(y.detach(), leaf.grad());
          };
          const auto [cpu_y, cpu_grad] = run(v);
          const auto [cuda_y, cuda_grad] = run(v.to(torch::kCUDA));
          EXPECT_TRUE(same_values(cuda_y, cpu_y));
          EXPECT_TRUE(same_values(cuda_grad, cpu_grad));
        }
      }
    }
  }
}

TEST_F(CudaPoolingTest, CudaAndCpuReluAgreeBitForBitAndDoubleBackwardRuns) {
  for (at::ScalarType dtype : kDtypes) {
    const at::Tensor x = torch::randint(-2, 3, {4, 5, 6}, torch::kDouble).to(dtype);
    const at::Tensor g = random_grad(x.sizes(), dtype);
    for (double alpha : {0.0, 0.25, 1.0}) {
      EXPECT_TRUE(same_values(tiebreak::ops::relu_backward(g.cuda(), x.cuda(), alpha),
                              tiebreak::ops::relu_backward(g, x, alpha)));
    }
  }
  // Second order through β-pool on the GPU: the example, J_β w at the chosen positions.
  auto x =
      torch::tensor({{0.0, 5.0, 1.0, 2.0}, {3.0, 1.0, 9.0, 4.0}, {7.0, 6.0, 0.0, 1.0}, {2.0, 3.0, 1.0, 8.0}},
                    torch::TensorOptions().dtype(torch::kDouble).device(torch::kCUDA))
          .view({1, 1, 4, 4})
          .requires_grad_(true);
  auto v = torch::ones({1, 1, 2, 2}, x.options()).requires_grad_(true);
  const auto w = torch::arange(1, 17, x.options()).view({1, 1, 4, 4});
  auto y = tiebreak::ops::max_pool2d(x, {2}, {}, {0}, {1}, false, 1.0, tiebreak::ops::PoolFormulation::Pure);
  auto gx = torch::autograd::grad({y}, {x}, {v}, true, true)[0];
  auto gv = torch::autograd::grad({(gx * w).sum()}, {v})[0];
  EXPECT_TRUE(same_values(gv.view(-1), torch::tensor({2.0, 7.0, 9.0, 16.0}, torch::kDouble)));
}

}  // namespace
