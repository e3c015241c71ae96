// The MaxPool β-Jacobian operator (CPU): exact tie gradients, forward/backward
// agreement with native max_pool2d, the mixture formulation against a reference
// assembled from ATen ops, overlapping windows against a brute-force J_β,
// finite differences, NaNs, the dispatcher entry points and argument errors.

#include "tiebreak/ops/max_pool2d.h"
#include "support/test_support.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace {

namespace ops = tiebreak::ops;
using ops::PoolFormulation;
using ::testing::HasSubstr;

const std::vector<at::ScalarType> kDtypes{at::kDouble, at::kFloat, at::kHalf, at::kBFloat16};
const std::vector<double> kBetas{-1.0, 0.0, 0.5, 1.0, 2.0, 10.0, 1000.0};
const std::vector<PoolFormulation> kFormulations{PoolFormulation::Pure, PoolFormulation::Mixture};

struct PoolArgs {
  std::vector<int64_t> kernel;
  std::vector<int64_t> stride;
  std::vector<int64_t> padding{0};
  std::vector<int64_t> dilation{1};
  bool ceil_mode = false;
};

std::string describe(const PoolArgs& a) {
  return c10::str("kernel=", c10::IntArrayRef(a.kernel), " stride=", c10::IntArrayRef(a.stride),
                  " padding=", c10::IntArrayRef(a.padding), " dilation=", c10::IntArrayRef(a.dilation),
                  " ceil_mode=", a.ceil_mode);
}

const std::vector<PoolArgs>& configs() {
  static const std::vector<PoolArgs> all{
      {{2, 2}, {2, 2}},
      {{3, 3}, {2, 2}, {1, 1}},
      {{3, 3}, {1, 1}, {1, 1}, {1, 1}, true},
      {{3, 2}, {2, 1}, {1, 0}, {2, 1}, true},
      {{2, 2}, {3, 3}},                        // gaps between windows
      {{3, 3}, {3, 3}, {0, 0}, {1, 1}, true},  // clipped last windows
      {{1, 1}, {1, 1}},
  };
  return all;
}

/// Bitwise equality of values (any memory format).
bool bits_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto as_int = a.element_size() == 2 ? at::kShort : a.element_size() == 4 ? at::kInt : at::kLong;
  return a.contiguous().view(as_int).equal(b.contiguous().view(as_int));
}

/// Bitwise equality where both are not NaN, and NaN at the same places (the
/// payload of a NaN made by inf + (−inf) is not part of the contract).
bool equal_or_both_nan(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto nan_a = at::isnan(a);
  if (!nan_a.equal(at::isnan(b))) return false;
  return bits_equal(a.masked_fill(nan_a, 0), b.masked_fill(nan_a, 0));
}

/// Arithmetic of one dtype as ATen's CPU kernels perform it: values are widened
/// to the op-math type (float for Half/BFloat16/Float, double for Double),
/// combined there, and rounded back to the dtype.
struct DtypeArith {
  at::ScalarType dtype;

  double op(double v) const { return dtype == at::kDouble ? v : static_cast<double>(static_cast<float>(v)); }
  double round(double v) const {
    if (dtype == at::kDouble) return v;
    return at::scalar_tensor(static_cast<float>(v), at::kFloat).to(dtype).to(at::kDouble).item<double>();
  }
  // Products, quotients and sums of two floats are exact or correctly rounded
  // when formed in double and rounded to float (53 >= 2·24 + 2).
  double mul(double a, double b) const { return round(op(op(a) * op(b))); }
  double div(double a, double b) const { return round(op(op(a) / op(b))); }
  double add(double a, double b) const { return round(op(op(a) + op(b))); }
};

double epsilon(at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf:
      return std::ldexp(1.0, -10);
    case at::kBFloat16:
      return std::ldexp(1.0, -7);
    case at::kFloat:
      return std::numeric_limits<float>::epsilon();
    default:
      return std::numeric_limits<double>::epsilon();
  }
}

at::Tensor pool(const at::Tensor& x, const PoolArgs& a, double beta, PoolFormulation f) {
  return ops::max_pool2d(x, a.kernel, a.stride, a.padding, a.dilation, a.ceil_mode, beta, f);
}

struct Pooled {
  at::Tensor output;
  at::Tensor grad;
};

Pooled run_tiebreak(const at::Tensor& x, const PoolArgs& a, double beta, PoolFormulation f,
                    const at::Tensor& g) {
  auto leaf = x.detach().clone().requires_grad_(true);
  auto y = pool(leaf, a, beta, f);
  y.backward(g);
  return {y.detach(), leaf.grad()};
}

Pooled run_native(const at::Tensor& x, const PoolArgs& a, const at::Tensor& g) {
  auto leaf = x.detach().clone().requires_grad_(true);
  auto y = at::max_pool2d(leaf, a.kernel, a.stride, a.padding, a.dilation, a.ceil_mode);
  y.backward(g);
  return {y.detach(), leaf.grad()};
}

/// (output, indices, ties) straight from the internal forward op.
std::tuple<at::Tensor, at::Tensor, at::Tensor> internal_forward(const at::Tensor& x, const PoolArgs& a,
                                                                double beta, const std::string& formulation) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tiebreak::_max_pool2d_forward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                           const at::Tensor&, c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef,
                           c10::IntArrayRef, bool, double, c10::string_view)>();
  return op.call(x, a.kernel, a.stride, a.padding, a.dilation, a.ceil_mode, beta, formulation);
}

/// Upstream gradients whose partial sums over at most four overlapping windows
/// are exact in every dtype (small integers), so accumulation order and
/// rounding count cannot matter; random normals for float/double otherwise.
at::Tensor upstream_grad(const at::Tensor& y, bool exact_sums) {
  if (exact_sums) return at::randint(-8, 9, y.sizes(), y.options().dtype(at::kDouble)).to(y.scalar_type());
  return at::randn(y.sizes(), y.options().dtype(at::kDouble)).to(y.scalar_type());
}

at::Tensor tie_heavy(std::vector<int64_t> sizes, at::ScalarType dtype, int64_t levels = 3) {
  return at::randint(0, levels, sizes, at::TensorOptions().dtype(at::kDouble)).to(dtype);
}

// ---------------------------------------------------------------------------
// Brute-force reference: windows enumerated from the definition (start
// o·stride − pad, positions start + j·dilation inside the input), native's
// choice by its scan rule, ties by exact equality; J_β applied in double.
// ---------------------------------------------------------------------------

struct Window {
  int64_t selected;
  std::vector<int64_t> tied;  // flat ih * W + iw, i* included
};

struct BruteForce {
  std::vector<Window> windows;  // (n, c, oh, ow) order
  int64_t out_h = 0, out_w = 0;
};

BruteForce brute_force_windows(const at::Tensor& x, const PoolArgs& a) {
  const auto x64 = x.to(at::kDouble).contiguous();
  const auto native =
      at::max_pool2d(x.to(at::kDouble), a.kernel, a.stride, a.padding, a.dilation, a.ceil_mode);
  BruteForce bf;
  bf.out_h = native.size(-2);
  bf.out_w = native.size(-1);
  const int64_t planes = x64.numel() / (x64.size(-1) * x64.size(-2));
  const int64_t H = x64.size(-2), W = x64.size(-1);
  const auto kh = a.kernel[0], kw = a.kernel.back();
  const auto sh = a.stride[0], sw = a.stride.back();
  const auto ph = a.padding[0], pw = a.padding.back();
  const auto dh = a.dilation[0], dw = a.dilation.back();
  const double* data = x64.const_data_ptr<double>();
  for (int64_t p = 0; p < planes; ++p) {
    const double* plane = data + p * H * W;
    for (int64_t oh = 0; oh < bf.out_h; ++oh) {
      for (int64_t ow = 0; ow < bf.out_w; ++ow) {
        std::vector<int64_t> positions;
        for (int64_t i = 0; i < kh; ++i) {
          const int64_t ih = oh * sh - ph + i * dh;
          if (ih < 0 || ih >= H) continue;
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t iw = ow * sw - pw + j * dw;
            if (iw >= 0 && iw < W) positions.push_back(ih * W + iw);
          }
        }
        Window w{positions.front(), {}};
        double best = -std::numeric_limits<double>::infinity();
        for (auto pos : positions) {
          if (plane[pos] > best || std::isnan(plane[pos])) {
            best = plane[pos];
            w.selected = pos;
          }
        }
        if (std::isnan(best)) {
          w.tied = {w.selected};
        } else {
          for (auto pos : positions)
            if (plane[pos] == best) w.tied.push_back(pos);
        }
        bf.windows.push_back(std::move(w));
      }
    }
  }
  return bf;
}

/// J_β applied to `g` in double, and Σ|contribution| per input element (the
/// scale of the rounding error an implementation may make).
std::pair<at::Tensor, at::Tensor> brute_force_jbeta(const at::Tensor& x, const PoolArgs& a, double beta,
                                                    const at::Tensor& g) {
  const auto bf = brute_force_windows(x, a);
  auto grad = at::zeros(x.sizes(), at::kDouble);
  auto scale = at::zeros(x.sizes(), at::kDouble);
  const auto g64 = g.to(at::kDouble).contiguous();
  const int64_t plane_in = x.size(-1) * x.size(-2);
  const int64_t plane_out = bf.out_h * bf.out_w;
  double* gi = grad.data_ptr<double>();
  double* sc = scale.data_ptr<double>();
  const double* go = g64.const_data_ptr<double>();
  for (size_t k = 0; k < bf.windows.size(); ++k) {
    const auto& w = bf.windows[k];
    const int64_t p = static_cast<int64_t>(k) / plane_out;
    const double gw = go[k];
    auto add = [&](int64_t pos, double v) {
      gi[p * plane_in + pos] += v;
      sc[p * plane_in + pos] += std::abs(v);
    };
    const double t = static_cast<double>(w.tied.size());
    for (auto pos : w.tied) add(pos, beta / t * gw);
    add(w.selected, (1.0 - beta) * gw);
  }
  return {grad, scale};
}

void expect_close_to_reference(const at::Tensor& actual, const at::Tensor& reference, const at::Tensor& scale,
                               at::ScalarType dtype) {
  const double eps_op = dtype == at::kDouble ? epsilon(at::kDouble) : epsilon(at::kFloat);
  const auto diff = (actual.to(at::kDouble) - reference).abs();
  const auto bound = reference.abs() * epsilon(dtype) + scale * (8 * eps_op) + 1e-300;
  EXPECT_TRUE(diff.le(bound).all().item<bool>())
      << "largest excess " << (diff - bound).max().item<double>() << "\nactual\n"
      << actual << "\nreference\n"
      << reference;
}

// ---------------------------------------------------------------------------
// Hand-built windows with exact expected gradients
// ---------------------------------------------------------------------------

/// The gradient one 2×2 window (values `v` in the dtype, upstream `g`) gets,
/// from the definitions of the two formulations.
std::vector<double> single_window_grad(const std::vector<double>& v, double g, double beta, PoolFormulation f,
                                       const DtypeArith& ar) {
  int64_t selected = 0;
  double best = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < 4; ++i) {
    if (v[i] > best || std::isnan(v[i])) {
      best = v[i];
      selected = i;
    }
  }
  std::vector<int64_t> tied;
  for (int64_t i = 0; i < 4; ++i)
    if (v[i] == best || (std::isnan(best) && i == selected)) tied.push_back(i);
  const double t = static_cast<double>(tied.size());
  std::vector<double> grad(4, 0.0);
  if (f == PoolFormulation::Pure) {
    // J_β·g exactly, rounded once (the cases use g = ±2^k, so exact in op-math).
    std::vector<double> exact(4, 0.0);
    for (auto i : tied) exact[i] += beta / t * g;
    exact[selected] += (1.0 - beta) * g;
    if (tied.size() == 1) exact[selected] = g;
    for (int64_t i = 0; i < 4; ++i) grad[i] = ar.round(exact[i]);
  } else {
    const double gb = ar.mul(beta, g);
    const double gn = ar.mul(1.0 - beta, g);
    const double share = ar.div(gb, t);
    std::vector<double> min_branch(4, 0.0), native_branch(4, 0.0);
    for (auto i : tied) min_branch[i] = share;
    native_branch[selected] = gn;
    for (int64_t i = 0; i < 4; ++i) grad[i] = ar.add(min_branch[i], native_branch[i]);
  }
  return grad;
}

TEST(MaxPool2dOp, HandBuiltTieWindowsHaveExactGradients) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<std::vector<double>> windows{
      {1, 1, 0, 0}, {5, 1, 5, 5}, {3, 1, 0, 2}, {-2, 7, 7, -2}, {-inf, -inf, -inf, -inf}, {4, 4, 4, 4}};
  for (auto dtype : kDtypes) {
    const DtypeArith ar{dtype};
    for (const auto& values : windows) {
      const auto x = at::tensor(values, at::kDouble).view({1, 1, 2, 2}).to(dtype);
      for (double g : {1.0, -2.0}) {
        for (double beta : kBetas) {
          for (auto f : kFormulations) {
            SCOPED_TRACE(c10::str(dtype, " x=", c10::ArrayRef<double>(values), " g=", g, " beta=", beta, " ",
                                  ops::to_string(f)));
            const auto got = run_tiebreak(x, {{2, 2}, {2, 2}}, beta, f, at::full({1, 1, 1, 1}, g, dtype));
            const auto expected = single_window_grad(values, g, beta, f, ar);
            const auto got64 = got.grad.to(at::kDouble).contiguous();
            for (int64_t i = 0; i < 4; ++i)
              EXPECT_EQ(got64.view(-1)[i].item<double>(), expected[i]) << "i=" << i;
          }
        }
      }
    }
  }
}

TEST(MaxPool2dOp, DocumentedExamples) {
  const auto x = at::tensor({1.0, 1.0, 0.0, 0.0}, at::kDouble).view({1, 1, 2, 2});
  const auto g = at::ones({1, 1, 1, 1}, at::kDouble);
  const PoolArgs a{{2, 2}, {2, 2}};
  auto grad_at = [&](double beta) {
    return run_tiebreak(x, a, beta, PoolFormulation::Pure, g).grad.view(-1);
  };
  EXPECT_TRUE(grad_at(0).equal(at::tensor({1.0, 0.0, 0.0, 0.0}, at::kDouble)));
  EXPECT_TRUE(grad_at(1).equal(at::tensor({0.5, 0.5, 0.0, 0.0}, at::kDouble)));
  EXPECT_TRUE(grad_at(1000).equal(at::tensor({-499.0, 500.0, 0.0, 0.0}, at::kDouble)));
  const auto three = at::tensor({5.0, 1.0, 5.0, 5.0}, at::kDouble).view({1, 1, 2, 2});
  const auto grad = run_tiebreak(three, a, 1.0, PoolFormulation::Pure, g).grad.view(-1);
  EXPECT_TRUE(grad.equal(at::tensor({1.0 / 3, 0.0, 1.0 / 3, 1.0 / 3}, at::kDouble))) << grad;
}

// ---------------------------------------------------------------------------
// Forward agreement with native max_pool2d
// ---------------------------------------------------------------------------

TEST(MaxPool2dOp, ForwardMatchesNativeBitForBit) {
  at::manual_seed(1);
  // The last two reach the CPU forward's blocked scans: 18 narrow planes (blocks
  // of 16 planes plus 2 alone) and 53-column rows (blocks of 16 windows between
  // clipped edge windows).
  const std::vector<std::vector<int64_t>> shapes{
      {2, 3, 7, 9}, {1, 4, 5, 5}, {3, 2, 6, 11}, {2, 9, 6, 7}, {1, 2, 5, 53}};
  for (auto dtype : kDtypes) {
    for (const auto& shape : shapes) {
      for (bool ties : {false, true}) {
        for (bool channels_last : {false, true}) {
          auto x = ties ? tie_heavy(shape, dtype) : at::randn(shape, at::kDouble).to(dtype);
          if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
          for (const auto& a : configs()) {
            SCOPED_TRACE(c10::str(dtype, " shape=", c10::IntArrayRef(shape), " ties=", ties,
                                  " channels_last=", channels_last, " ", describe(a)));
            const auto [native, native_indices] =
                at::max_pool2d_with_indices(x, a.kernel, a.stride, a.padding, a.dilation, a.ceil_mode);
            const auto [output, indices, tie_counts] = internal_forward(x, a, 0.0, "pure");
            EXPECT_TRUE(bits_equal(output, native));
            EXPECT_TRUE(indices.equal(native_indices));
            EXPECT_EQ(output.is_contiguous(at::MemoryFormat::ChannelsLast),
                      native.is_contiguous(at::MemoryFormat::ChannelsLast));
            EXPECT_EQ(tie_counts.scalar_type(), at::kInt);
            for (double beta : {0.0, 1.0}) {
              EXPECT_TRUE(bits_equal(pool(x, a, beta, PoolFormulation::Mixture), native)) << "beta=" << beta;
            }
            EXPECT_TRUE(bits_equal(pool(x, a, 1000.0, PoolFormulation::Pure), native));
            // The tie counts against the brute-force enumeration of each window.
            const auto bf = brute_force_windows(x, a);
            const auto counts = tie_counts.contiguous().view(-1);
            ASSERT_EQ(counts.numel(), static_cast<int64_t>(bf.windows.size()));
            const int32_t* c = counts.const_data_ptr<int32_t>();
            for (size_t k = 0; k < bf.windows.size(); ++k) {
              ASSERT_EQ(c[k], static_cast<int32_t>(bf.windows[k].tied.size())) << "window " << k;
            }
          }
        }
      }
    }
  }
}

TEST(MaxPool2dOp, ThreeDimensionalInput) {
  at::manual_seed(2);
  for (auto dtype : kDtypes) {
    const auto x = tie_heavy({3, 6, 7}, dtype);
    const PoolArgs a{{3, 3}, {2, 2}, {1, 1}};
    const auto g = upstream_grad(at::max_pool2d(x, {3, 3}, {2, 2}, {1, 1}), true);
    const auto n = run_native(x, a, g);
    const auto ours = run_tiebreak(x, a, 0.0, PoolFormulation::Pure, g);
    EXPECT_EQ(ours.output.dim(), 3);
    EXPECT_TRUE(bits_equal(ours.output, n.output)) << dtype;
    EXPECT_TRUE(bits_equal(ours.grad, n.grad)) << dtype;
    for (auto f : kFormulations) {
      // At β = 1 (ties matter): the 3-D path is the 4-D one on x.unsqueeze(0), bit for bit.
      const auto three = run_tiebreak(x, a, 1.0, f, g);
      const auto four = run_tiebreak(x.unsqueeze(0), a, 1.0, f, g.unsqueeze(0));
      EXPECT_TRUE(bits_equal(three.output, four.output.squeeze(0))) << dtype;
      EXPECT_TRUE(bits_equal(three.grad, four.grad.squeeze(0))) << dtype;
    }
    const auto [output, ties] = ops::max_pool2d_with_ties(x, {3, 3}, {2, 2}, {1, 1}, 1, false, 1.0);
    const auto [output4, ties4] =
        ops::max_pool2d_with_ties(x.unsqueeze(0), {3, 3}, {2, 2}, {1, 1}, 1, false, 1.0);
    EXPECT_TRUE(ties.equal(ties4.squeeze(0)));
    EXPECT_TRUE(ties.gt(1).any().item<bool>());
  }
}

// ---------------------------------------------------------------------------
// Backward: native equality, overlapping windows, finite differences, NaNs
// ---------------------------------------------------------------------------

TEST(MaxPool2dOp, PureBetaZeroBackwardIsNativeWhereNativeRoundsOnce) {
  // Native CPU backward adds each window's gradient into grad_input in the
  // dtype; pure rounds once (from float for Half/BFloat16, from double for
  // Float). The two agree bit for bit wherever native's adds are exact: here
  // with small-integer gradients on every geometry (random gradients on
  // disjoint windows: NonOverlapping… below; where they differ: the next test).
  at::manual_seed(3);
  for (auto dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      for (const auto& a : configs()) {
        auto x = tie_heavy({2, 5, 9, 8}, dtype);
        if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
        SCOPED_TRACE(c10::str(dtype, " channels_last=", channels_last, " ", describe(a)));
        const auto y = at::max_pool2d(x, a.kernel, a.stride, a.padding, a.dilation, a.ceil_mode);
        const auto g = upstream_grad(y, /*exact_sums=*/dtype != at::kDouble);
        const auto native = run_native(x, a, g);
        const auto ours = run_tiebreak(x, a, 0.0, PoolFormulation::Pure, g);
        EXPECT_TRUE(bits_equal(ours.grad, native.grad));
        EXPECT_EQ(ours.grad.is_contiguous(at::MemoryFormat::ChannelsLast),
                  native.grad.is_contiguous(at::MemoryFormat::ChannelsLast));
      }
    }
  }
}

TEST(MaxPool2dOp, OverlappingWindowsPureRoundsOnceMixtureAddsInTheDtypeLikeNative) {
  // The centre of a 3×3 plane is the maximum of all four 2×2/stride-1 windows:
  // it receives g = 1, ε, ε, 0 with ε half an ulp of 1 in the dtype. Native CPU
  // backward adds in the dtype: 1 + ε rounds to 1 (ties to even), twice. Pure
  // rounds the exact sum 1 + 2ε once; the mixture (the study's β·MinNormPool +
  // (1−β)·MaxPool2d evaluated by PyTorch) follows native.
  struct Case {
    at::ScalarType dtype;
    double epsilon, pure_centre;
  };
  for (const auto& c : {Case{at::kHalf, std::ldexp(1.0, -11), 1.0009765625},
                        Case{at::kBFloat16, std::ldexp(1.0, -8), 1.0078125},
                        Case{at::kFloat, std::ldexp(1.0, -24), 1.0 + std::ldexp(1.0, -23)}}) {
    for (bool channels_last : {false, true}) {
      SCOPED_TRACE(c10::str(c.dtype, " channels_last=", channels_last));
      auto x = at::zeros({1, 1, 3, 3}, at::kDouble);
      x[0][0][1][1] = 1.0;
      x = x.to(c.dtype);
      if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
      const auto g = at::tensor({1.0, c.epsilon, c.epsilon, 0.0}, at::kDouble).view({1, 1, 2, 2}).to(c.dtype);
      const PoolArgs a{{2, 2}, {1, 1}};
      const auto native = run_native(x, a, g).grad;
      EXPECT_EQ(native[0][0][1][1].item<double>(), 1.0);
      EXPECT_EQ(run_tiebreak(x, a, 0.0, PoolFormulation::Pure, g).grad[0][0][1][1].item<double>(),
                c.pure_centre);
      const auto mixture = run_tiebreak(x, a, 0.0, PoolFormulation::Mixture, g).grad;
      EXPECT_EQ(mixture[0][0][1][1].item<double>(), 1.0);
      EXPECT_TRUE(bits_equal(mixture, native));
    }
  }
}

TEST(MaxPool2dOp, NonOverlappingReducedPrecisionBetaZeroMatchesNativeWithRandomGradients) {
  at::manual_seed(4);
  for (auto dtype : {at::kHalf, at::kBFloat16}) {
    for (bool channels_last : {false, true}) {
      auto x = tie_heavy({3, 4, 8, 10}, dtype);
      if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
      const PoolArgs a{{2, 2}, {2, 2}};
      const auto g = upstream_grad(at::max_pool2d(x, 2, 2), false);
      EXPECT_TRUE(
          bits_equal(run_tiebreak(x, a, 0.0, PoolFormulation::Pure, g).grad, run_native(x, a, g).grad))
          << dtype << " channels_last=" << channels_last;
    }
  }
}

TEST(MaxPool2dOp, OverlappingWindowsMatchBruteForceJBeta) {
  at::manual_seed(5);
  const PoolArgs a{{3, 3}, {2, 2}, {1, 1}};
  for (auto dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      auto x = tie_heavy({2, 3, 9, 8}, dtype);
      if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
      const auto y = at::max_pool2d(x, a.kernel, a.stride, a.padding);
      const auto g = upstream_grad(y, false);
      for (double beta : kBetas) {
        SCOPED_TRACE(c10::str(dtype, " channels_last=", channels_last, " beta=", beta));
        const auto [reference, scale] = brute_force_jbeta(x, a, beta, g);
        const auto ours = run_tiebreak(x, a, beta, PoolFormulation::Pure, g);
        expect_close_to_reference(ours.grad, reference, scale, dtype);
        if (dtype == at::kDouble) {
          // The mixture differs from J_β only by the roundings of βg and (1−β)g.
          expect_close_to_reference(run_tiebreak(x, a, beta, PoolFormulation::Mixture, g).grad, reference,
                                    scale, dtype);
        }
      }
    }
  }
}

TEST(MaxPool2dOp, OverlappingTiesReceiveContributionsFromEveryWindow) {
  // A 3×3 plateau of 1s sits in all four overlapping 3×3/stride-2 windows.
  auto x = at::zeros({1, 1, 5, 5}, at::kDouble);
  x.index_put_({0, 0, at::indexing::Slice(1, 4), at::indexing::Slice(1, 4)}, 1.0);
  const PoolArgs a{{3, 3}, {2, 2}, {1, 1}};
  const auto g = at::ones({1, 1, 3, 3}, at::kDouble);
  const auto ours = run_tiebreak(x, a, 1.0, PoolFormulation::Pure, g);
  const auto [reference, scale] = brute_force_jbeta(x, a, 1.0, g);
  EXPECT_TRUE(at::allclose(ours.grad, reference, 0, 1e-15)) << ours.grad << reference;
  // Corner (1, 1) of the plateau lies in four windows: alone in window (0, 0)
  // (t = 1: all of g), with 3 tied cells in windows (0, 1) and (1, 0), with all
  // 9 in window (1, 1): 1 + 1/3 + 1/3 + 1/9 at β = 1.
  EXPECT_NEAR(ours.grad[0][0][1][1].item<double>(), 1.0 + 2.0 / 3.0 + 1.0 / 9.0, 1e-15);
  // Each row of J_β sums to 1 (t·β/t + 1 − β): the total gradient is Σ g = 9.
  EXPECT_NEAR(ours.grad.sum().item<double>(), 9.0, 1e-12);
  EXPECT_TRUE(
      ours.grad.index({0, 0, at::indexing::Slice(1, 4), at::indexing::Slice(1, 4)}).gt(0).all().item<bool>());
}

TEST(MaxPool2dOp, FiniteDifferencesOnTieFreeInputsForEveryBeta) {
  at::manual_seed(6);
  const std::vector<int64_t> shape{1, 2, 6, 7};
  const int64_t numel = 1 * 2 * 6 * 7;
  // Distinct values at least 0.15 apart: the argmax is stable under ±1e-4.
  const auto x = (at::randperm(numel, at::kDouble) * 0.25 + at::rand({numel}, at::kDouble) * 0.1).view(shape);
  for (const auto& a : {PoolArgs{{3, 3}, {2, 2}, {1, 1}}, PoolArgs{{2, 2}, {2, 2}}}) {
    const auto w = at::randn(at::max_pool2d(x, a.kernel, a.stride, a.padding).sizes(), at::kDouble);
    auto loss = [&](const at::Tensor& input, double beta, PoolFormulation f) {
      return (pool(input, a, beta, f) * w).sum().item<double>();
    };
    const double h = 1e-4;
    for (double beta : kBetas) {
      for (auto f : kFormulations) {
        SCOPED_TRACE(c10::str(describe(a), " beta=", beta, " ", ops::to_string(f)));
        const auto grad = run_tiebreak(x, a, beta, f, w).grad;
        auto fd = at::zeros_like(x);
        for (int64_t i = 0; i < numel; ++i) {
          auto plus = x.clone(), minus = x.clone();
          plus.view(-1)[i] += h;
          minus.view(-1)[i] -= h;
          fd.view(-1)[i] = (loss(plus, beta, f) - loss(minus, beta, f)) / (2 * h);
        }
        EXPECT_TRUE(at::allclose(grad, fd, 1e-7, 1e-7)) << (grad - fd).abs().max();
      }
    }
  }
}

TEST(MaxPool2dOp, NaNWindowsFollowNativeSelectionAndCountOneTie) {
  at::manual_seed(7);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto base = (at::randperm(48, at::kDouble) * 0.5).view({1, 2, 4, 6});
  base[0][0][0][0] = nan;  // one NaN in the first window
  base[0][0][0][2] = nan;  // two NaNs in the second window: the last one wins
  base[0][0][1][3] = nan;
  base[0][1][2].fill_(nan);  // whole windows of NaN
  base[0][1][3].fill_(nan);
  for (auto dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      for (const auto& a : {PoolArgs{{2, 2}, {2, 2}}, PoolArgs{{3, 3}, {2, 2}, {1, 1}}}) {
        auto x = base.to(dtype);
        if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
        SCOPED_TRACE(c10::str(dtype, " channels_last=", channels_last, " ", describe(a)));
        const auto [native, native_indices] = at::max_pool2d_with_indices(x, a.kernel, a.stride, a.padding);
        const auto [output, indices, ties] = internal_forward(x, a, 0.5, "pure");
        EXPECT_TRUE(bits_equal(output, native));
        EXPECT_TRUE(indices.equal(native_indices));
        EXPECT_TRUE(ties.masked_select(at::isnan(native)).eq(1).all().item<bool>());
        EXPECT_TRUE(at::isnan(pool(x, a, 0.5, PoolFormulation::Mixture)).equal(at::isnan(native)));
        // Every window is untied (distinct values) or NaN (t = 1): J_β = J_nat.
        const auto g = upstream_grad(native, true);
        const auto expected = run_native(x, a, g).grad;
        for (double beta : {0.0, 1.0, 1000.0}) {
          EXPECT_TRUE(bits_equal(run_tiebreak(x, a, beta, PoolFormulation::Pure, g).grad, expected))
              << "beta=" << beta;
        }
      }
    }
  }
}

TEST(MaxPool2dOp, NaNsInBlockedForwardScansFollowNative) {
  // The CPU forward scans 16 planes (narrow planes) or 16 windows of a row
  // (wide rows) side by side: NaNs anywhere in such a block, including the
  // first and last lane, select as native does.
  at::manual_seed(8);
  for (const auto& shape : {std::vector<int64_t>{1, 18, 4, 6}, std::vector<int64_t>{1, 2, 4, 70}}) {
    auto base = (at::rand(shape, at::kDouble) * 4).round();  // ties as well
    const auto flat = base.view(-1);
    for (int64_t i = 0; i < flat.numel(); i += 7) flat[i] = std::numeric_limits<double>::quiet_NaN();
    flat[flat.numel() - 1] = std::numeric_limits<double>::quiet_NaN();
    for (auto dtype : kDtypes) {
      for (const auto& a : configs()) {
        const auto x = base.to(dtype);
        SCOPED_TRACE(c10::str(dtype, " shape=", c10::IntArrayRef(shape), " ", describe(a)));
        const auto [native, native_indices] =
            at::max_pool2d_with_indices(x, a.kernel, a.stride, a.padding, a.dilation, a.ceil_mode);
        const auto [output, indices, ties] = internal_forward(x, a, 0.5, "pure");
        EXPECT_TRUE(bits_equal(output, native));
        EXPECT_TRUE(indices.equal(native_indices));
        EXPECT_TRUE(ties.masked_select(at::isnan(native)).eq(1).all().item<bool>());
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Mixture formulation: PyTorch autograd of β·MinNormPool + (1−β)·NativePool
// ---------------------------------------------------------------------------

/// The study's MinNormPool for non-overlapping windows (stride == kernel,
/// sizes divisible), written with ATen ops: forward the window max, backward
/// g/t to each of the t maxima.
struct MinNormPool : public torch::autograd::Function<MinNormPool> {
  static at::Tensor windows(const at::Tensor& x, int64_t k) {
    const auto w = x.unfold(2, k, k).unfold(3, k, k);  // N, C, OH, OW, k, k
    return w.reshape({w.size(0), w.size(1), w.size(2), w.size(3), k * k});
  }

  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t k) {
    ctx->save_for_backward({x});
    ctx->saved_data["k"] = k;
    return std::get<0>(windows(x, k).max(-1));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    const int64_t k = ctx->saved_data["k"].toInt();
    const auto w = windows(x, k);
    const auto mask = w.eq(std::get<0>(w.max(-1)).unsqueeze(-1));
    const auto t = mask.sum(-1, /*keepdim=*/true, x.scalar_type());
    const auto share = grads[0].unsqueeze(-1) / t;
    const auto gw = at::where(mask, share, at::zeros({}, share.options()));
    // Fold the windows back (no overlap: a permutation of the input grid).
    const auto grad = gw.view({x.size(0), x.size(1), w.size(2), w.size(3), k, k})
                          .permute({0, 1, 2, 4, 3, 5})
                          .reshape(x.sizes());
    return {grad.contiguous(x.suggest_memory_format()), at::Tensor()};
  }
};

TEST(MaxPool2dOp, MixtureIsBitExactAgainstAtenReference) {
  at::manual_seed(8);
  for (auto dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      for (int64_t k : {2, 3}) {
        // Levels {−20, 10, 40, 70}: with β = 1000, Half overflows to inf − inf = NaN on 70-windows.
        auto x = (tie_heavy({2, 3, 3 * k, 4 * k}, at::kDouble, 4) * 30.0 - 20.0).to(dtype);
        if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
        const PoolArgs a{{k, k}, {k, k}};
        const auto g = upstream_grad(at::max_pool2d(x, k, k), false);
        for (double beta : kBetas) {
          SCOPED_TRACE(c10::str(dtype, " channels_last=", channels_last, " k=", k, " beta=", beta));
          auto leaf = x.detach().clone().requires_grad_(true);
          const auto reference = beta * MinNormPool::apply(leaf, k) + (1 - beta) * at::max_pool2d(leaf, k, k);
          reference.backward(g);
          const auto ours = run_tiebreak(x, a, beta, PoolFormulation::Mixture, g);
          EXPECT_TRUE(equal_or_both_nan(ours.output, reference.detach()));
          EXPECT_TRUE(equal_or_both_nan(ours.grad, leaf.grad()));
        }
      }
    }
  }
}

/// MinNormPool generalised to padded, overlapping windows and evaluated with
/// PyTorch's own ops as the study's formulation would be: the shares
/// fl(fl(β·g)/t) scattered onto each window's tied positions with index_add
/// (one add into the dtype per contribution, in window order, as native
/// max_pool2d's CPU backward adds), the windows as
/// im2col columns of the input padded with −inf.
struct OverlappingMinNormPool : public torch::autograd::Function<OverlappingMinNormPool> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t k, int64_t s,
                            int64_t p) {
    ctx->save_for_backward({x});
    ctx->saved_data["k"] = k;
    ctx->saved_data["s"] = s;
    ctx->saved_data["p"] = p;
    return at::max_pool2d(x, k, s, p);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto x = ctx->get_saved_variables()[0].contiguous();
    const int64_t k = ctx->saved_data["k"].toInt(), s = ctx->saved_data["s"].toInt(),
                  p = ctx->saved_data["p"].toInt();
    const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
    const int64_t hp = h + 2 * p, wp = w + 2 * p;
    const auto padded = at::constant_pad_nd(x, {p, p, p, p}, -std::numeric_limits<double>::infinity());
    // (planes, windows, k·k): window-major, taps in row-major order.
    const auto columns = at::im2col(padded, {k, k}, {1, 1}, {0, 0}, {s, s});
    const int64_t windows = columns.size(-1);
    const auto taps = columns.view({planes, k * k, windows}).transpose(1, 2);
    const auto positions =
        at::im2col(at::arange(hp * wp, at::kDouble).view({1, 1, hp, wp}), {k, k}, {1, 1}, {0, 0}, {s, s})
            .view({k * k, windows})
            .t()
            .reshape({-1})
            .to(at::kLong);
    const auto maxima = at::max_pool2d(x, k, s, p).reshape({planes, windows, 1});
    const auto tied = taps == maxima;
    const auto t = tied.sum(-1, /*keepdim=*/true, x.scalar_type());
    const auto share = grads[0].reshape({planes, windows, 1}) / t;
    const auto contributions = at::where(tied, share, at::zeros({}, share.options())).reshape({-1});
    // One flat index_add (along dim 0 it adds each source element into the
    // dtype in order; along other dims the CPU kernel sums Half in float).
    const auto flat_positions =
        (positions.unsqueeze(0) + at::arange(planes, at::kLong).unsqueeze(1) * (hp * wp)).reshape({-1});
    const auto grad = at::zeros({planes * hp * wp}, x.options()).index_add_(0, flat_positions, contributions);
    return {grad.view({x.size(0), x.size(1), hp, wp}).narrow(2, p, h).narrow(3, p, w), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

TEST(MaxPool2dOp, MixtureOnOverlappingPaddedWindowsIsTheStudysFormulationBitForBit) {
  // The 3×3/stride-2/padding-1 stem pool of the ImageNet configs, in every dtype.
  at::manual_seed(12);
  for (auto dtype : kDtypes) {
    for (bool channels_last : {false, true}) {
      auto x = (tie_heavy({2, 3, 11, 9}, at::kDouble, 4) * 30.0 - 20.0).to(dtype);
      if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
      const PoolArgs a{{3, 3}, {2, 2}, {1, 1}};
      const auto g = upstream_grad(at::max_pool2d(x, 3, 2, 1), false);
      for (double beta : kBetas) {
        SCOPED_TRACE(c10::str(dtype, " channels_last=", channels_last, " beta=", beta));
        auto leaf = x.detach().clone().requires_grad_(true);
        const auto reference =
            beta * OverlappingMinNormPool::apply(leaf, 3, 2, 1) + (1 - beta) * at::max_pool2d(leaf, 3, 2, 1);
        reference.backward(g);
        const auto ours = run_tiebreak(x, a, beta, PoolFormulation::Mixture, g);
        EXPECT_TRUE(equal_or_both_nan(ours.output, reference.detach()));
        EXPECT_TRUE(equal_or_both_nan(ours.grad, leaf.grad()))
            << (ours.grad.to(at::kDouble) - leaf.grad().to(at::kDouble)).abs().max();
      }
    }
  }
}

TEST(MaxPool2dOp, MixtureOverflowsInHalfLikeTheStudy) {
  // m = 70 and β = 1000: fl16(70000) = inf, fl16(−69930) = −inf, inf + (−inf) = NaN.
  const auto x = at::tensor({70.0, 3.0, 70.0, 1.0}, at::kDouble).view({1, 1, 2, 2}).to(at::kHalf);
  const auto mixture = pool(x, {{2, 2}, {2, 2}}, 1000.0, PoolFormulation::Mixture);
  EXPECT_TRUE(at::isnan(mixture).all().item<bool>()) << mixture;
  const auto pure = pool(x, {{2, 2}, {2, 2}}, 1000.0, PoolFormulation::Pure);
  EXPECT_EQ(pure.item<double>(), 70.0);
  // In float the same mixture is finite and equal to the max.
  EXPECT_EQ(pool(x.to(at::kFloat), {{2, 2}, {2, 2}}, 1000.0, PoolFormulation::Mixture).item<float>(), 70.0f);
}

TEST(MaxPool2dOp, MixtureDeviatesOnUntiedWindowsWherePureDoesNot) {
  at::manual_seed(9);
  const auto x = at::randperm(4096, at::kFloat).view({1, 1, 64, 64});  // no ties
  const PoolArgs a{{2, 2}, {2, 2}};
  const auto g = at::randn({1, 1, 32, 32}, at::kFloat);
  const DtypeArith ar{at::kFloat};
  for (double beta : {0.1, 0.3, 1000.0}) {
    const auto native = run_native(x, a, g).grad;
    EXPECT_TRUE(bits_equal(run_tiebreak(x, a, beta, PoolFormulation::Pure, g).grad, native)) << beta;
    const auto mixture = run_tiebreak(x, a, beta, PoolFormulation::Mixture, g).grad;
    // Expected from the definition: fl(βg) + fl((1−β)g) at i*, zero elsewhere.
    auto expected = at::zeros_like(native);
    const auto selected = native.ne(0);
    const auto native_values = native.masked_select(selected);
    std::vector<float> values;
    for (int64_t i = 0; i < native_values.numel(); ++i) {
      const double gi = native_values[i].item<double>();
      values.push_back(static_cast<float>(ar.add(ar.mul(beta, gi), ar.mul(1.0 - beta, gi))));
    }
    expected.masked_scatter_(selected, at::tensor(values, at::kFloat));
    EXPECT_TRUE(bits_equal(mixture, expected)) << beta;
    EXPECT_FALSE(bits_equal(mixture, native)) << "beta=" << beta << ": fl(βg)+fl((1−β)g) == g for all 1024 g";
  }
}

// ---------------------------------------------------------------------------
// Dispatcher entry points
// ---------------------------------------------------------------------------

TEST(MaxPool2dOp, DispatcherOpIsDifferentiable) {
  auto op = c10::Dispatcher::singleton()
                .findSchemaOrThrow("tiebreak::max_pool2d", "")
                .typed<at::Tensor(const at::Tensor&, c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef,
                                  c10::IntArrayRef, bool, double, c10::string_view)>();
  auto x = at::tensor({1.0, 1.0, 0.0, 0.0}, at::kDouble).view({1, 1, 2, 2}).requires_grad_(true);
  const std::vector<int64_t> kernel{2, 2};
  auto y = op.call(x, kernel, {}, {0}, {1}, false, 1.0, "pure");
  y.sum().backward();
  EXPECT_TRUE(x.grad().view(-1).equal(at::tensor({0.5, 0.5, 0.0, 0.0}, at::kDouble)));

  const auto& schema = op.schema();
  EXPECT_EQ(schema.arguments().back().name(), "formulation");
  EXPECT_EQ(schema.arguments().back().default_value()->toStringRef(), "pure");
}

TEST(MaxPool2dOp, WithTiesReturnsCountsWithoutGradientAndWorksInInferenceMode) {
  auto x = at::tensor({5.0, 1.0, 5.0, 5.0, 1.0, 2.0, 3.0, 4.0}, at::kDouble).view({1, 1, 2, 4});
  x.requires_grad_(true);
  auto [output, ties] = ops::max_pool2d_with_ties(x, {2, 2});
  EXPECT_TRUE(output.requires_grad());
  EXPECT_FALSE(ties.requires_grad());
  EXPECT_TRUE(ties.view(-1).equal(at::tensor({1, 2}, at::kInt)));
  {
    c10::InferenceMode guard;
    auto [o, t] = ops::max_pool2d_with_ties(x.detach(), {2, 2});
    EXPECT_TRUE(t.equal(ties));
    EXPECT_TRUE(o.equal(output.detach()));
  }
}

TEST(MaxPool2dOp, EmptyBatchPoolsAndDifferentiatesAndZeroChannelsAreRejected) {
  for (bool channels_last : {false, true}) {
    for (auto f : kFormulations) {
      auto x = at::randn({0, 3, 4, 4});
      if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
      const auto r = run_tiebreak(x, {{2, 2}, {2, 2}}, 1.0, f, at::ones({0, 3, 2, 2}));
      EXPECT_EQ(r.output.sizes(), c10::IntArrayRef({0, 3, 2, 2}));
      EXPECT_TRUE(r.grad.equal(at::zeros({0, 3, 4, 4})));
    }
  }
  // As native max_pool2d: "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size".
  const auto message = tiebreak::testing::error_message([] {
    ops::max_pool2d(at::randn({2, 0, 8, 8}), {2, 2});
  });
  EXPECT_THAT(message,
              HasSubstr("max_pool2d: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch "
                        "size for input"));
  EXPECT_THAT(message, HasSubstr("[2, 0, 8, 8]"));
  EXPECT_THAT(tiebreak::testing::error_message([] {
                ops::max_pool2d_with_ties(at::randn({0, 8, 8}), {2, 2});
              }),
              HasSubstr("Expected 3D or 4D"));
}

TEST(MaxPool2dOp, DilatedWindowWithNoTapIsMinusInfinityAndGetsNoGradient) {
  // x = randn(1,1,1,12), kernel 3, stride 6, padding 1, dilation 2, ceil_mode: every
  // window's rows are −1, 1, 3 (none inside the one-row input). Native gives
  // −inf; the backward must give zeros (it used to throw).
  at::manual_seed(1);
  const auto x = at::randn({1, 1, 1, 12});
  const PoolArgs a{{3, 3}, {6, 6}, {1, 1}, {2, 2}, true};
  const auto native = at::max_pool2d(x, a.kernel, a.stride, a.padding, a.dilation, a.ceil_mode);
  EXPECT_TRUE(native.eq(-std::numeric_limits<float>::infinity()).all().item<bool>());
  for (auto f : kFormulations) {
    for (double beta : kBetas) {
      SCOPED_TRACE(c10::str(ops::to_string(f), " beta=", beta));
      const auto r = run_tiebreak(x, a, beta, f, at::ones_like(native));
      // The mixture is the study's β·(−inf) + (1−β)·(−inf) as PyTorch evaluates it (NaN unless 0 < β < 1).
      const auto expected = f == PoolFormulation::Pure ? native : beta * native + (1 - beta) * native;
      EXPECT_TRUE(equal_or_both_nan(r.output, expected)) << r.output;
      EXPECT_TRUE(r.grad.equal(at::zeros_like(x)));
    }
  }
  const auto [output, ties] = ops::max_pool2d_with_ties(x, a.kernel, a.stride, a.padding, a.dilation, true);
  EXPECT_TRUE(ties.eq(0).all().item<bool>()) << ties;
}

// ---------------------------------------------------------------------------
// Errors name the argument
// ---------------------------------------------------------------------------

TEST(MaxPool2dOp, BadArgumentsAreRejectedWithTheirName) {
  const auto x = at::randn({1, 2, 6, 6});
  auto call = [&](const at::Tensor& input, std::vector<int64_t> kernel, std::vector<int64_t> stride,
                  std::vector<int64_t> padding, std::vector<int64_t> dilation, double beta = 0.0) {
    return tiebreak::testing::error_message(
        [&] { ops::max_pool2d(input, kernel, stride, padding, dilation, false, beta); });
  };
  EXPECT_THAT(call(at::randn({6, 6}), {2}, {}, {0}, {1}), HasSubstr("3D (C, H, W) or 4D"));
  EXPECT_THAT(call(at::ones({1, 1, 4, 4}, at::kLong), {2}, {}, {0}, {1}), HasSubstr("floating point"));
  EXPECT_THAT(call(x, {0, 2}, {}, {0}, {1}), HasSubstr("kernel_size must be greater than zero"));
  EXPECT_THAT(call(x, {2, 2, 2}, {}, {0}, {1}), HasSubstr("kernel_size must either be a single int"));
  EXPECT_THAT(call(x, {2}, {0}, {0}, {1}), HasSubstr("stride must be greater than zero"));
  EXPECT_THAT(call(x, {2}, {}, {-1}, {1}), HasSubstr("padding must be non-negative"));
  EXPECT_THAT(call(x, {2}, {}, {2}, {1}), HasSubstr("pad should be at most half of effective kernel size"));
  EXPECT_THAT(call(x, {2}, {}, {0}, {0}), HasSubstr("dilation must be greater than zero"));
  EXPECT_THAT(call(x, {7}, {}, {0}, {1}), HasSubstr("too small"));
  EXPECT_THAT(call(x, {2}, {}, {0}, {1}, std::numeric_limits<double>::infinity()),
              HasSubstr("max_pool2d: beta must be finite, got inf"));
  EXPECT_THAT(call(x, {2}, {}, {0}, {1}, std::nan("")), HasSubstr("beta must be finite"));

  auto with_formulation = [&](const std::string& name) {
    return tiebreak::testing::error_message([&] { internal_forward(x, {{2, 2}, {2, 2}}, 0.0, name); });
  };
  EXPECT_THAT(with_formulation("bogus"),
              HasSubstr("formulation must be \"pure\" or \"mixture\", got \"bogus\""));

  // The backward op checks what it is handed.
  static auto backward =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("tiebreak::_max_pool2d_backward", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef, bool,
                            double, c10::string_view)>();
  const auto [output, indices, ties] = internal_forward(x, {{2, 2}, {2, 2}}, 0.0, "pure");
  auto backward_error = [&](const at::Tensor& g, const at::Tensor& i, const at::Tensor& t) {
    return tiebreak::testing::error_message([&] {
      backward.call(g, x, i, t, {2, 2}, {2, 2}, {0}, {1}, false, 0.0, "pure");
    });
  };
  EXPECT_THAT(backward_error(at::ones({1, 2, 2, 2}), indices, ties), HasSubstr("grad_output of shape"));
  EXPECT_THAT(backward_error(at::ones_like(output, at::kDouble), indices, ties),
              HasSubstr("grad_output of dtype"));
  EXPECT_THAT(backward_error(at::ones_like(output), indices.to(at::kInt), ties),
              HasSubstr("indices of dtype"));
  EXPECT_THAT(backward_error(at::ones_like(output), indices, ties.to(at::kLong)), HasSubstr("ties of dtype"));
  EXPECT_THAT(backward_error(at::ones_like(output), indices + 100, ties),
              HasSubstr("outside the input plane"));
}

}  // namespace
