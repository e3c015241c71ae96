#pragma once
// CPU kernels of the MaxPool β-Jacobian operator, compiled once per CPU
// capability: max_pool2d_kernel_<capability>.cpp defines
// TIEBREAK_CPU_CAPABILITY and includes this file, so each build lives in its
// own namespace and the builds cannot be mixed up by the linker.
// max_pool2d_kernel.cpp picks one at run time and registers it.
//
// The forward scan reproduces ATen's cpu_max_pool exactly (rows then columns of
// the clipped window, `val > maxval || isnan(val)`, maxval starting at -inf and
// maxindex at the first in-window position) and counts the ties in the same
// pass. The backward recovers each window's maximum as input[i*] and rescans
// only the windows with t >= 2. Every number comes from ops/max_pool2d_math.h;
// here is only the order in which windows are visited (output order, as
// native's backward) and where their contributions accumulate:
// - windows that cannot overlap (stride >= dilated kernel): each element gets
//   one contribution, written straight into grad_input;
// - overlapping windows, pure: in pure_acc_t (double for Float), rounded once;
// - overlapping windows, mixture: each branch added into the dtype as native
//   CPU backward adds (MixtureAccumulation::Dtype), the branches summed last.

#include "ops/cpu/kernel_builds.h"
#include "ops/max_pool2d_math.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#ifndef TIEBREAK_CPU_CAPABILITY
#error "define TIEBREAK_CPU_CAPABILITY before including max_pool2d_kernel_impl.h"
#endif

namespace tiebreak::ops::TIEBREAK_CPU_CAPABILITY {

namespace {

/// `take ? a : b` as bit masks, without a branch. On activations `take` is a
/// coin flip, and GCC compiles the ternaries of the window scan back into jumps
/// that mispredict about half the time (the forward ran at twice native's time).
template <typename T>
inline T select(bool take, T a, T b) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "select: 32- or 64-bit values only");
  using Bits = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  Bits x, y;
  std::memcpy(&x, &a, sizeof(T));
  std::memcpy(&y, &b, sizeof(T));
  const Bits mask = Bits{0} - static_cast<Bits>(take);
  const Bits r = (x & mask) | (y & ~mask);
  T out;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}

constexpr const char* kIndexError =
    "max_pool2d backward: indices hold a position outside the input plane, got ";

template <typename scalar_t>
using Jacobian = MaxPoolJacobian<scalar_t>;

// ---------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------

template <typename scalar_t>
void forward_nchw(const scalar_t* in_data, scalar_t* out_data, int64_t* ind_data, int32_t* tie_data,
                  int64_t planes, const PoolGeometry& g, const Jacobian<scalar_t>& jac, bool mixture) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t out_plane = g.output_h * g.output_w;
  at::parallel_for(0, planes, 0, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const scalar_t* in = in_data + p * in_plane;
      scalar_t* out = out_data + p * out_plane;
      int64_t* ind = ind_data + p * out_plane;
      int32_t* tie = tie_data + p * out_plane;
      for (int64_t oh = 0; oh < g.output_h; ++oh) {
        const auto rh = window_range(oh, g.stride_h, g.pad_h, g.kernel_h, g.dilation_h, g.input_h);
        for (int64_t ow = 0; ow < g.output_w; ++ow) {
          const auto rw = window_range(ow, g.stride_w, g.pad_w, g.kernel_w, g.dilation_w, g.input_w);
          int64_t maxindex = rh.start * g.input_w + rw.start;
          opmath_t maxval = -std::numeric_limits<opmath_t>::infinity();
          int32_t count = 0;  // stays 0 for a window with no tap inside the input
          for (int64_t ih = rh.start; ih < rh.end; ih += g.dilation_h) {
            for (int64_t iw = rw.start; iw < rw.end; iw += g.dilation_w) {
              const int64_t index = ih * g.input_w + iw;
              const auto val = static_cast<opmath_t>(in[index]);
              const bool take = (val > maxval) | (val != val);
              const bool same = val == maxval;
              maxval = select(take, val, maxval);
              maxindex = select(take, index, maxindex);
              count = select(take, int32_t{1}, count + static_cast<int32_t>(same));
            }
          }
          const int64_t o = oh * g.output_w + ow;
          out[o] = mixture ? jac.mixture_value(maxval) : static_cast<scalar_t>(maxval);
          ind[o] = maxindex;
          tie[o] = count;
        }
      }
    }
  });
}

// Channels innermost: every window position is one contiguous run of C values.
template <typename scalar_t>
void forward_nhwc(const scalar_t* in_data, scalar_t* out_data, int64_t* ind_data, int32_t* tie_data,
                  int64_t batch, int64_t channels, const PoolGeometry& g, const Jacobian<scalar_t>& jac,
                  bool mixture) {
  using opmath_t = at::opmath_type<scalar_t>;
  at::parallel_for(0, batch * g.output_h, 0, [&](int64_t begin, int64_t end) {
    std::vector<opmath_t> maxval(channels);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / g.output_h;
      const int64_t oh = row % g.output_h;
      const auto rh = window_range(oh, g.stride_h, g.pad_h, g.kernel_h, g.dilation_h, g.input_h);
      const scalar_t* in_n = in_data + n * g.input_h * g.input_w * channels;
      for (int64_t ow = 0; ow < g.output_w; ++ow) {
        const auto rw = window_range(ow, g.stride_w, g.pad_w, g.kernel_w, g.dilation_w, g.input_w);
        const int64_t o = (row * g.output_w + ow) * channels;
        scalar_t* out = out_data + o;
        int64_t* ind = ind_data + o;
        int32_t* tie = tie_data + o;
        const int64_t first = rh.start * g.input_w + rw.start;
        for (int64_t c = 0; c < channels; ++c) {
          maxval[c] = -std::numeric_limits<opmath_t>::infinity();
          ind[c] = first;
          tie[c] = 0;
        }
        for (int64_t ih = rh.start; ih < rh.end; ih += g.dilation_h) {
          for (int64_t iw = rw.start; iw < rw.end; iw += g.dilation_w) {
            const int64_t index = ih * g.input_w + iw;
            const scalar_t* in = in_n + index * channels;
            // Branch-free so that the channel loop vectorises.
            for (int64_t c = 0; c < channels; ++c) {
              const auto val = static_cast<opmath_t>(in[c]);
              const opmath_t current = maxval[c];
              const bool take = (val > current) | (val != val);
              const bool same = val == current;
              maxval[c] = take ? val : current;
              ind[c] = take ? index : ind[c];
              tie[c] = take ? 1 : tie[c] + static_cast<int32_t>(same);
            }
          }
        }
        for (int64_t c = 0; c < channels; ++c) {
          out[c] = mixture ? jac.mixture_value(maxval[c]) : static_cast<scalar_t>(maxval[c]);
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------

/// One window's contributions, for either layout: `step` is the distance
/// between spatially adjacent elements of a plane (1 in NCHW, C in NHWC) and
/// `in`/`a`/`b` point at the plane's element (0, 0).
///
/// Pure: `a` accumulates with one rounding to `Acc` per add: grad_input itself
/// (Acc = scalar_t) where windows are disjoint, a pure_acc_t buffer otherwise.
/// Mixture: `a` is the min-norm branch, `b` the native one (both scalar_t);
/// `b` null means disjoint windows: the two branches are summed on the spot.
template <typename scalar_t>
struct WindowBackward {
  using opmath_t = at::opmath_type<scalar_t>;
  using acc_t = pure_acc_t<scalar_t>;

  const Jacobian<scalar_t>& jac;
  const PoolGeometry& g;

  /// The window's tied positions other than i* (the maximum m = in[i*]).
  template <typename Fn>
  void for_each_tie(const scalar_t* in, int64_t step, int64_t oh, int64_t ow, int64_t selected,
                    const Fn& fn) const {
    const scalar_t m = in[selected * step];
    const auto rh = window_range(oh, g.stride_h, g.pad_h, g.kernel_h, g.dilation_h, g.input_h);
    const auto rw = window_range(ow, g.stride_w, g.pad_w, g.kernel_w, g.dilation_w, g.input_w);
    for (int64_t ih = rh.start; ih < rh.end; ih += g.dilation_h) {
      for (int64_t iw = rw.start; iw < rw.end; iw += g.dilation_w) {
        const int64_t index = ih * g.input_w + iw;
        if (index != selected && in[index * step] == m) fn(index * step);
      }
    }
  }

  template <typename Acc>
  void pure(const scalar_t* in, int64_t step, Acc* a, int64_t oh, int64_t ow, int64_t selected, int32_t t,
            scalar_t grad) const {
    auto add = [a](int64_t at, acc_t c) { a[at] = static_cast<Acc>(static_cast<acc_t>(a[at]) + c); };
    const auto gv = static_cast<opmath_t>(grad);
    if (t == 1) {
      add(selected * step, static_cast<acc_t>(gv));
      return;
    }
    add(selected * step, jac.pure_contribution(jac.pure_entry(t, true), gv));
    const acc_t entry = jac.pure_entry(t, false);
    if (entry == acc_t(0)) return;
    const acc_t share = jac.pure_contribution(entry, gv);
    for_each_tie(in, step, oh, ow, selected, [&](int64_t at) { add(at, share); });
  }

  void mixture(const scalar_t* in, int64_t step, scalar_t* a, scalar_t* b, int64_t oh, int64_t ow,
               int64_t selected, int32_t t, scalar_t grad) const {
    const auto gv = static_cast<opmath_t>(grad);
    const scalar_t share = jac.mixture_min_share(gv, t);
    const scalar_t native = jac.mixture_native_share(gv);
    const int64_t at = selected * step;
    if (b == nullptr) {
      // The study's MinNormPool assigns its shares; native backward adds into zeros.
      a[at] = Jacobian<scalar_t>::add_in_dtype(share, Jacobian<scalar_t>::add_in_dtype(scalar_t(0), native));
      if (t > 1) {
        const scalar_t tied = Jacobian<scalar_t>::add_in_dtype(share, scalar_t(0));
        for_each_tie(in, step, oh, ow, selected, [&](int64_t p) { a[p] = tied; });
      }
      return;
    }
    a[at] = Jacobian<scalar_t>::add_in_dtype(a[at], share);
    b[at] = Jacobian<scalar_t>::add_in_dtype(b[at], native);
    if (t > 1) {
      for_each_tie(in, step, oh, ow, selected,
                   [&](int64_t p) { a[p] = Jacobian<scalar_t>::add_in_dtype(a[p], share); });
    }
  }
};

/// The accumulators of one plane (NCHW) or one sample (NHWC) of `size`
/// elements: none where windows are disjoint (grad_input is written directly);
/// a pure_acc_t buffer for the pure formulation, rounded once at the end; for
/// the mixture, grad_input holds the min-norm branch and `native` the native
/// one, summed at the end.
template <typename scalar_t>
struct BackwardBuffers {
  using acc_t = pure_acc_t<scalar_t>;
  std::vector<acc_t> acc;
  std::vector<scalar_t> native;

  BackwardBuffers(int64_t size, bool disjoint, bool mixture)
      : acc(!disjoint && !mixture ? size : 0), native(!disjoint && mixture ? size : 0) {}

  void begin(scalar_t* gin, int64_t size) {
    if (acc.empty()) std::fill(gin, gin + size, scalar_t(0));
    std::fill(acc.begin(), acc.end(), acc_t(0));
    std::fill(native.begin(), native.end(), scalar_t(0));
  }

  scalar_t* native_branch(int64_t offset) { return native.empty() ? nullptr : native.data() + offset; }

  void finish(scalar_t* gin, int64_t size) const {
    if (!acc.empty()) {
      for (int64_t i = 0; i < size; ++i) gin[i] = static_cast<scalar_t>(acc[i]);
    }
    if (!native.empty()) {
      for (int64_t i = 0; i < size; ++i) gin[i] = Jacobian<scalar_t>::add_in_dtype(gin[i], native[i]);
    }
  }
};

template <typename scalar_t>
void backward_nchw(const scalar_t* gout_data, const scalar_t* in_data, const int64_t* ind_data,
                   const int32_t* tie_data, scalar_t* gin_data, int64_t planes, const PoolGeometry& g,
                   const Jacobian<scalar_t>& jac, bool mixture) {
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t out_plane = g.output_h * g.output_w;
  const bool disjoint = g.windows_disjoint();
  const WindowBackward<scalar_t> window{jac, g};

  at::parallel_for(0, planes, 0, [&](int64_t begin, int64_t end) {
    BackwardBuffers<scalar_t> buffers(in_plane, disjoint, mixture);
    for (int64_t p = begin; p < end; ++p) {
      const scalar_t* in = in_data + p * in_plane;
      const scalar_t* gout = gout_data + p * out_plane;
      const int64_t* ind = ind_data + p * out_plane;
      const int32_t* tie = tie_data + p * out_plane;
      scalar_t* gin = gin_data + p * in_plane;
      buffers.begin(gin, in_plane);
      for (int64_t oh = 0; oh < g.output_h; ++oh) {
        for (int64_t ow = 0; ow < g.output_w; ++ow) {
          const int64_t o = oh * g.output_w + ow;
          const int32_t t = tie[o];
          if (t == 0) continue;  // a window with no tap inside the input
          const int64_t selected = ind[o];
          TORCH_CHECK(selected >= 0 && selected < in_plane, kIndexError, selected);
          if (mixture) {
            window.mixture(in, 1, gin, buffers.native_branch(0), oh, ow, selected, t, gout[o]);
          } else if (disjoint) {
            window.pure(in, 1, gin, oh, ow, selected, t, gout[o]);
          } else {
            window.pure(in, 1, buffers.acc.data(), oh, ow, selected, t, gout[o]);
          }
        }
      }
      buffers.finish(gin, in_plane);
    }
  });
}

// NHWC: parallel over samples (windows of neighbouring output rows overlap, so
// rows cannot be split across threads), channels innermost. Untied windows, the
// bulk of the work, are handled for all channels at once; tied windows go
// through the same per-window code as NCHW with step C.
template <typename scalar_t>
void backward_nhwc(const scalar_t* gout_data, const scalar_t* in_data, const int64_t* ind_data,
                   const int32_t* tie_data, scalar_t* gin_data, int64_t batch, int64_t channels,
                   const PoolGeometry& g, const Jacobian<scalar_t>& jac, bool mixture) {
  using opmath_t = at::opmath_type<scalar_t>;
  using acc_t = pure_acc_t<scalar_t>;
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t in_sample = in_plane * channels;
  const int64_t out_sample = g.output_h * g.output_w * channels;
  const bool disjoint = g.windows_disjoint();
  const WindowBackward<scalar_t> window{jac, g};

  at::parallel_for(0, batch, 0, [&](int64_t begin, int64_t end) {
    BackwardBuffers<scalar_t> buffers(in_sample, disjoint, mixture);
    for (int64_t n = begin; n < end; ++n) {
      const scalar_t* in = in_data + n * in_sample;
      scalar_t* gin = gin_data + n * in_sample;
      buffers.begin(gin, in_sample);
      for (int64_t oh = 0; oh < g.output_h; ++oh) {
        for (int64_t ow = 0; ow < g.output_w; ++ow) {
          const int64_t o = n * out_sample + (oh * g.output_w + ow) * channels;
          const scalar_t* gout = gout_data + o;
          const int64_t* ind = ind_data + o;
          const int32_t* tie = tie_data + o;
          for (int64_t c = 0; c < channels; ++c) {
            const int32_t t = tie[c];
            if (t == 0) continue;
            const int64_t selected = ind[c];
            TORCH_CHECK(selected >= 0 && selected < in_plane, kIndexError, selected);
            if (mixture) {
              window.mixture(in + c, channels, gin + c, buffers.native_branch(c), oh, ow, selected, t,
                             gout[c]);
            } else if (t == 1 && disjoint) {
              scalar_t& x = gin[selected * channels + c];
              x = static_cast<scalar_t>(static_cast<acc_t>(x) +
                                        static_cast<acc_t>(static_cast<opmath_t>(gout[c])));
            } else if (disjoint) {
              window.pure(in + c, channels, gin + c, oh, ow, selected, t, gout[c]);
            } else {
              window.pure(in + c, channels, buffers.acc.data() + c, oh, ow, selected, t, gout[c]);
            }
          }
        }
      }
      buffers.finish(gin, in_sample);
    }
  });
}

}  // namespace

void max_pool2d_forward_kernel(const at::Tensor& input, const at::Tensor& output, const at::Tensor& indices,
                               const at::Tensor& ties, const PoolGeometry& geometry, double beta,
                               PoolFormulation formulation) {
  TORCH_INTERNAL_ASSERT(input.dim() == 4 && output.dim() == 4, "max_pool2d CPU kernel: 4-D tensors expected");
  if (output.numel() == 0) return;
  const auto format = input.suggest_memory_format();
  const at::Tensor x = input.contiguous(format);
  TORCH_INTERNAL_ASSERT(output.is_contiguous(format) && indices.is_contiguous(format) &&
                        ties.is_contiguous(format));
  const bool mixture = formulation == PoolFormulation::Mixture;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "max_pool2d_forward_cpu", [&] {
    const Jacobian<scalar_t> jac(beta, ScalarRounding::OpMath);
    if (format == at::MemoryFormat::ChannelsLast) {
      forward_nhwc<scalar_t>(x.const_data_ptr<scalar_t>(), output.data_ptr<scalar_t>(),
                             indices.data_ptr<int64_t>(), ties.data_ptr<int32_t>(), x.size(0), x.size(1),
                             geometry, jac, mixture);
    } else {
      forward_nchw<scalar_t>(x.const_data_ptr<scalar_t>(), output.data_ptr<scalar_t>(),
                             indices.data_ptr<int64_t>(), ties.data_ptr<int32_t>(), x.size(0) * x.size(1),
                             geometry, jac, mixture);
    }
  });
}

void max_pool2d_backward_kernel(const at::Tensor& grad_output, const at::Tensor& input,
                                const at::Tensor& indices, const at::Tensor& ties,
                                const at::Tensor& grad_input, const PoolGeometry& geometry, double beta,
                                PoolFormulation formulation) {
  TORCH_INTERNAL_ASSERT(input.dim() == 4 && grad_input.dim() == 4,
                        "max_pool2d CPU kernel: 4-D tensors expected");
  if (grad_input.numel() == 0) return;
  const auto format = input.suggest_memory_format();
  TORCH_INTERNAL_ASSERT(grad_input.is_contiguous(format));
  const at::Tensor x = input.contiguous(format);
  const at::Tensor gout = grad_output.contiguous(format);
  const at::Tensor ind = indices.contiguous(format);
  const at::Tensor tie = ties.contiguous(format);
  const bool mixture = formulation == PoolFormulation::Mixture;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "max_pool2d_backward_cpu", [&] {
    const Jacobian<scalar_t> jac(beta, ScalarRounding::OpMath);
    if (format == at::MemoryFormat::ChannelsLast) {
      backward_nhwc<scalar_t>(gout.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                              ind.const_data_ptr<int64_t>(), tie.const_data_ptr<int32_t>(),
                              grad_input.data_ptr<scalar_t>(), x.size(0), x.size(1), geometry, jac, mixture);
    } else {
      backward_nchw<scalar_t>(gout.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                              ind.const_data_ptr<int64_t>(), tie.const_data_ptr<int32_t>(),
                              grad_input.data_ptr<scalar_t>(), x.size(0) * x.size(1), geometry, jac, mixture);
    }
  });
}

}  // namespace tiebreak::ops::TIEBREAK_CPU_CAPABILITY
