#pragma once
// CPU kernels of the MaxPool β-Jacobian operator (see ops/kernels.h for the
// contract shared with the CUDA kernels), compiled once per CPU capability:
// max_pool2d_kernel_<capability>.cpp defines TIEBREAK_CPU_CAPABILITY and
// includes this file, so each build lives in its own namespace (and its
// templates in that file's anonymous namespace) and the builds cannot be mixed
// up by the linker. max_pool2d_kernel.cpp picks one at run time.
//
// The forward scan reproduces ATen's cpu_max_pool exactly (rows then columns of
// the clipped window, `val > maxval || isnan(val)`, maxval starting at -inf and
// maxindex at the first in-window position) and counts the ties in the same
// pass. The backward recovers each window's maximum as input[i*] and rescans
// only the windows with t >= 2.

#include "ops/kernels.h"

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

/// y = β·m + (1−β)·m evaluated as ATen evaluates `beta * a + (1 - beta) * b`
/// with a Python-float β: each product in op-math and rounded to the dtype,
/// then the sum in op-math rounded to the dtype. (1−β) is formed in double.
template <typename scalar_t>
struct MixtureForward {
  using opmath_t = at::opmath_type<scalar_t>;
  opmath_t beta;
  opmath_t one_minus_beta;

  explicit MixtureForward(double b)
      : beta(static_cast<opmath_t>(b)), one_minus_beta(static_cast<opmath_t>(1.0 - b)) {}

  scalar_t operator()(opmath_t m) const {
    const auto p1 = static_cast<scalar_t>(beta * m);
    const auto p2 = static_cast<scalar_t>(one_minus_beta * m);
    return static_cast<scalar_t>(static_cast<opmath_t>(p1) + static_cast<opmath_t>(p2));
  }
};

/// Per-window gradient shares of the two formulations for a window with t
/// tied maxima and upstream gradient g.
template <typename scalar_t>
struct BackwardShares {
  using opmath_t = at::opmath_type<scalar_t>;
  double beta_;
  PoolFormulation formulation;
  opmath_t beta;            // mixture: β in op-math
  opmath_t one_minus_beta;  // mixture: (1−β) formed in double, then op-math

  BackwardShares(double b, PoolFormulation f)
      : beta_(b),
        formulation(f),
        beta(static_cast<opmath_t>(b)),
        one_minus_beta(static_cast<opmath_t>(1.0 - b)) {}

  /// Pure formulation, tied window: the J_β entries β/t (every tied position)
  /// and β/t + (1−β) (i*), formed in double and applied in op-math. A zero
  /// entry contributes nothing (an inf upstream gradient stays out of
  /// positions the Jacobian does not connect, as in native backward).
  opmath_t pure_tied_share(int32_t t) const { return static_cast<opmath_t>(beta_ / t); }
  opmath_t pure_selected_share(int32_t t) const { return static_cast<opmath_t>(beta_ / t + (1.0 - beta_)); }

  /// Mixture: what autograd of β·MinNormPool + (1−β)·NativePool sends to the
  /// min-norm branch (per tied position) and the native branch (i*).
  opmath_t mixture_min_share(opmath_t g, int32_t t) const {
    const auto gb = static_cast<scalar_t>(beta * g);
    return static_cast<opmath_t>(static_cast<scalar_t>(static_cast<opmath_t>(gb) / static_cast<opmath_t>(t)));
  }
  opmath_t mixture_native_share(opmath_t g) const {
    return static_cast<opmath_t>(static_cast<scalar_t>(one_minus_beta * g));
  }
};

constexpr const char* kIndexError =
    "max_pool2d backward: indices hold a position outside the input plane, got ";

// ---------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------

template <typename scalar_t>
void forward_nchw(const at::Tensor& input, at::Tensor& output, at::Tensor& indices, at::Tensor& ties,
                  const PoolGeometry& g, double beta, PoolFormulation formulation) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t planes = input.size(0) * input.size(1);
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t out_plane = g.output_h * g.output_w;
  const scalar_t* in_data = input.const_data_ptr<scalar_t>();
  scalar_t* out_data = output.data_ptr<scalar_t>();
  int64_t* ind_data = indices.data_ptr<int64_t>();
  int32_t* tie_data = ties.data_ptr<int32_t>();
  const bool mixture = formulation == PoolFormulation::Mixture;
  const MixtureForward<scalar_t> mix(beta);

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
          int32_t count = 0;
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
          out[o] = mixture ? mix(maxval) : static_cast<scalar_t>(maxval);
          ind[o] = maxindex;
          tie[o] = count;
        }
      }
    }
  });
}

// Channels innermost: every window position is one contiguous run of C values.
template <typename scalar_t>
void forward_nhwc(const at::Tensor& input, at::Tensor& output, at::Tensor& indices, at::Tensor& ties,
                  const PoolGeometry& g, double beta, PoolFormulation formulation) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t batch = input.size(0);
  const int64_t channels = input.size(1);
  const scalar_t* in_data = input.const_data_ptr<scalar_t>();
  scalar_t* out_data = output.data_ptr<scalar_t>();
  int64_t* ind_data = indices.data_ptr<int64_t>();
  int32_t* tie_data = ties.data_ptr<int32_t>();
  const bool mixture = formulation == PoolFormulation::Mixture;
  const MixtureForward<scalar_t> mix(beta);

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
          out[c] = mixture ? mix(maxval[c]) : static_cast<scalar_t>(maxval[c]);
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------

// One plane (NCHW): contributions are added in output order, as native
// backward adds them, into op-math accumulators `acc` (pure) or `acc`/`acc_b`
// (mixture: the min-norm and native branches, each rounded once at the end).
template <typename scalar_t>
void backward_plane(const scalar_t* in, const scalar_t* gout, const int64_t* ind, const int32_t* tie,
                    at::opmath_type<scalar_t>* acc, at::opmath_type<scalar_t>* acc_b, const PoolGeometry& g,
                    const BackwardShares<scalar_t>& shares) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t in_plane = g.input_h * g.input_w;
  const bool mixture = shares.formulation == PoolFormulation::Mixture;
  for (int64_t oh = 0; oh < g.output_h; ++oh) {
    for (int64_t ow = 0; ow < g.output_w; ++ow) {
      const int64_t o = oh * g.output_w + ow;
      const int64_t selected = ind[o];
      TORCH_CHECK(selected >= 0 && selected < in_plane, kIndexError, selected);
      const int32_t t = tie[o];
      const auto grad = static_cast<opmath_t>(gout[o]);
      opmath_t tied_share = 0;
      if (mixture) {
        tied_share = shares.mixture_min_share(grad, t > 1 ? t : 1);
        acc[selected] += tied_share;
        acc_b[selected] += shares.mixture_native_share(grad);
      } else if (t <= 1) {
        acc[selected] += grad;
      } else {
        const opmath_t selected_share = shares.pure_selected_share(t);
        if (selected_share != 0) acc[selected] += selected_share * grad;
        const opmath_t share = shares.pure_tied_share(t);
        if (share == 0) continue;
        tied_share = share * grad;
      }
      if (t <= 1) continue;
      const auto rh = window_range(oh, g.stride_h, g.pad_h, g.kernel_h, g.dilation_h, g.input_h);
      const auto rw = window_range(ow, g.stride_w, g.pad_w, g.kernel_w, g.dilation_w, g.input_w);
      const scalar_t m = in[selected];
      for (int64_t ih = rh.start; ih < rh.end; ih += g.dilation_h) {
        for (int64_t iw = rw.start; iw < rw.end; iw += g.dilation_w) {
          const int64_t index = ih * g.input_w + iw;
          if (index != selected && in[index] == m) acc[index] += tied_share;
        }
      }
    }
  }
}

template <typename scalar_t>
void backward_nchw(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& indices,
                   const at::Tensor& ties, at::Tensor& grad_input, const PoolGeometry& g,
                   const BackwardShares<scalar_t>& shares) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t planes = input.size(0) * input.size(1);
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t out_plane = g.output_h * g.output_w;
  const scalar_t* in_data = input.const_data_ptr<scalar_t>();
  const scalar_t* gout_data = grad_output.const_data_ptr<scalar_t>();
  const int64_t* ind_data = indices.const_data_ptr<int64_t>();
  const int32_t* tie_data = ties.const_data_ptr<int32_t>();
  scalar_t* gin_data = grad_input.data_ptr<scalar_t>();
  const bool mixture = shares.formulation == PoolFormulation::Mixture;
  // Pure float/double accumulates straight into grad_input (already zero).
  constexpr bool direct = std::is_same_v<scalar_t, opmath_t>;

  at::parallel_for(0, planes, 0, [&](int64_t begin, int64_t end) {
    std::vector<opmath_t> acc((mixture || !direct) ? in_plane : 0);
    std::vector<opmath_t> acc_b(mixture ? in_plane : 0);
    for (int64_t p = begin; p < end; ++p) {
      scalar_t* gin = gin_data + p * in_plane;
      opmath_t* a = nullptr;
      if (mixture || !direct) {
        std::fill(acc.begin(), acc.end(), opmath_t(0));
        a = acc.data();
      } else {
        a = reinterpret_cast<opmath_t*>(gin);
      }
      if (mixture) std::fill(acc_b.begin(), acc_b.end(), opmath_t(0));
      backward_plane<scalar_t>(in_data + p * in_plane, gout_data + p * out_plane, ind_data + p * out_plane,
                               tie_data + p * out_plane, a, acc_b.data(), g, shares);
      if (mixture) {
        for (int64_t i = 0; i < in_plane; ++i) {
          gin[i] = static_cast<scalar_t>(static_cast<opmath_t>(static_cast<scalar_t>(acc[i])) +
                                         static_cast<opmath_t>(static_cast<scalar_t>(acc_b[i])));
        }
      } else if (!direct) {
        for (int64_t i = 0; i < in_plane; ++i) gin[i] = static_cast<scalar_t>(acc[i]);
      }
    }
  });
}

// NHWC: parallel over samples (windows of neighbouring output rows overlap, so
// rows cannot be split across threads), channels innermost.
template <typename scalar_t>
void backward_nhwc(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& indices,
                   const at::Tensor& ties, at::Tensor& grad_input, const PoolGeometry& g,
                   const BackwardShares<scalar_t>& shares) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t batch = input.size(0);
  const int64_t channels = input.size(1);
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t in_sample = in_plane * channels;
  const int64_t out_sample = g.output_h * g.output_w * channels;
  const scalar_t* in_data = input.const_data_ptr<scalar_t>();
  const scalar_t* gout_data = grad_output.const_data_ptr<scalar_t>();
  const int64_t* ind_data = indices.const_data_ptr<int64_t>();
  const int32_t* tie_data = ties.const_data_ptr<int32_t>();
  scalar_t* gin_data = grad_input.data_ptr<scalar_t>();
  const bool mixture = shares.formulation == PoolFormulation::Mixture;
  constexpr bool direct = std::is_same_v<scalar_t, opmath_t>;

  at::parallel_for(0, batch, 0, [&](int64_t begin, int64_t end) {
    std::vector<opmath_t> acc((mixture || !direct) ? in_sample : 0);
    std::vector<opmath_t> acc_b(mixture ? in_sample : 0);
    std::vector<opmath_t> tied_share(channels);
    // The window maximum of each channel to rescan for; NaN (equal to nothing)
    // for channels that need no rescan, so the rescan loop has no branch.
    std::vector<opmath_t> tied_max(channels);
    for (int64_t n = begin; n < end; ++n) {
      const scalar_t* in = in_data + n * in_sample;
      scalar_t* gin = gin_data + n * in_sample;
      opmath_t* a = nullptr;
      if (mixture || !direct) {
        std::fill(acc.begin(), acc.end(), opmath_t(0));
        a = acc.data();
      } else {
        a = reinterpret_cast<opmath_t*>(gin);
      }
      if (mixture) std::fill(acc_b.begin(), acc_b.end(), opmath_t(0));
      for (int64_t oh = 0; oh < g.output_h; ++oh) {
        for (int64_t ow = 0; ow < g.output_w; ++ow) {
          const int64_t o = n * out_sample + (oh * g.output_w + ow) * channels;
          const scalar_t* gout = gout_data + o;
          const int64_t* ind = ind_data + o;
          const int32_t* tie = tie_data + o;
          bool any_rescan = false;
          for (int64_t c = 0; c < channels; ++c) {
            const int64_t selected = ind[c];
            TORCH_CHECK(selected >= 0 && selected < in_plane, kIndexError, selected);
            const int64_t at = selected * channels + c;
            const int32_t t = tie[c];
            const auto grad = static_cast<opmath_t>(gout[c]);
            bool rescan = false;
            if (mixture) {
              const opmath_t share = shares.mixture_min_share(grad, t > 1 ? t : 1);
              a[at] += share;
              acc_b[at] += shares.mixture_native_share(grad);
              if (t > 1) {
                tied_share[c] = share;
                rescan = true;
              }
            } else if (t <= 1) {
              a[at] += grad;
            } else {
              const opmath_t selected_share = shares.pure_selected_share(t);
              if (selected_share != 0) a[at] += selected_share * grad;
              const opmath_t share = shares.pure_tied_share(t);
              if (share != 0) {
                tied_share[c] = share * grad;
                rescan = true;
              }
            }
            tied_max[c] = rescan ? static_cast<opmath_t>(in[at]) : std::numeric_limits<opmath_t>::quiet_NaN();
            any_rescan |= rescan;
          }
          if (!any_rescan) continue;
          const auto rh = window_range(oh, g.stride_h, g.pad_h, g.kernel_h, g.dilation_h, g.input_h);
          const auto rw = window_range(ow, g.stride_w, g.pad_w, g.kernel_w, g.dilation_w, g.input_w);
          for (int64_t ih = rh.start; ih < rh.end; ih += g.dilation_h) {
            for (int64_t iw = rw.start; iw < rw.end; iw += g.dilation_w) {
              const int64_t index = ih * g.input_w + iw;
              const scalar_t* in_pos = in + index * channels;
              opmath_t* a_pos = a + index * channels;
              for (int64_t c = 0; c < channels; ++c) {
                // Adding +0 is exact here: an accumulator that starts at +0 is never −0.
                const bool tied = (static_cast<opmath_t>(in_pos[c]) == tied_max[c]) & (index != ind[c]);
                a_pos[c] += tied ? tied_share[c] : opmath_t(0);
              }
            }
          }
        }
      }
      if (mixture) {
        for (int64_t i = 0; i < in_sample; ++i) {
          gin[i] = static_cast<scalar_t>(static_cast<opmath_t>(static_cast<scalar_t>(acc[i])) +
                                         static_cast<opmath_t>(static_cast<scalar_t>(acc_b[i])));
        }
      } else if (!direct) {
        for (int64_t i = 0; i < in_sample; ++i) gin[i] = static_cast<scalar_t>(acc[i]);
      }
    }
  });
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_cpu(const at::Tensor& input_,
                                                                      const PoolGeometry& geometry,
                                                                      double beta,
                                                                      PoolFormulation formulation) {
  TORCH_INTERNAL_ASSERT(input_.dim() == 4, "max_pool2d_forward_cpu expects a 4-D input");
  const auto memory_format = input_.suggest_memory_format();
  const at::Tensor input = input_.contiguous(memory_format);
  const std::vector<int64_t> out_sizes{input.size(0), input.size(1), geometry.output_h, geometry.output_w};
  auto output = at::empty(out_sizes, input.options().memory_format(memory_format));
  auto indices = at::empty(out_sizes, input.options().dtype(at::kLong).memory_format(memory_format));
  auto ties = at::empty(out_sizes, input.options().dtype(at::kInt).memory_format(memory_format));
  if (input.numel() == 0) return {output, indices, ties};
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, input.scalar_type(), "max_pool2d_forward_cpu", [&] {
        if (memory_format == at::MemoryFormat::ChannelsLast) {
          forward_nhwc<scalar_t>(input, output, indices, ties, geometry, beta, formulation);
        } else {
          forward_nchw<scalar_t>(input, output, indices, ties, geometry, beta, formulation);
        }
      });
  return {output, indices, ties};
}

at::Tensor max_pool2d_backward_cpu(const at::Tensor& grad_output_, const at::Tensor& input_,
                                   const at::Tensor& indices_, const at::Tensor& ties_,
                                   const PoolGeometry& geometry, double beta, PoolFormulation formulation) {
  TORCH_INTERNAL_ASSERT(input_.dim() == 4, "max_pool2d_backward_cpu expects a 4-D input");
  const auto memory_format = input_.suggest_memory_format();
  const at::Tensor input = input_.contiguous(memory_format);
  const at::Tensor grad_output = grad_output_.contiguous(memory_format);
  const at::Tensor indices = indices_.contiguous(memory_format);
  const at::Tensor ties = ties_.contiguous(memory_format);
  auto grad_input = at::zeros_like(input, input.options().memory_format(memory_format));
  if (input.numel() == 0 || grad_output.numel() == 0) return grad_input;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, input.scalar_type(), "max_pool2d_backward_cpu", [&] {
        const BackwardShares<scalar_t> shares(beta, formulation);
        if (memory_format == at::MemoryFormat::ChannelsLast) {
          backward_nhwc<scalar_t>(grad_output, input, indices, ties, grad_input, geometry, shares);
        } else {
          backward_nchw<scalar_t>(grad_output, input, indices, ties, grad_input, geometry, shares);
        }
      });
  return grad_input;
}

}  // namespace tiebreak::ops::TIEBREAK_CPU_CAPABILITY
