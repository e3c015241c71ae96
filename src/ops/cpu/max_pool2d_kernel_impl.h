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
#ifdef __F16C__
#include <immintrin.h>
#endif
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

/// dst[i] = src[i] widened to op-math, exactly (every Half and BFloat16 is a
/// float). With F16C, eight Half at a time (vcvtph2ps), as ATen's vectorised
/// kernels widen; c10::Half's own conversion is one element per instruction.
template <typename scalar_t>
void convert_to_opmath(const scalar_t* src, at::opmath_type<scalar_t>* dst, int64_t n) {
  int64_t i = 0;
#ifdef __F16C__
  if constexpr (std::is_same_v<scalar_t, c10::Half>) {
    for (; i + 8 <= n; i += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
  }
#endif
  for (; i < n; ++i) dst[i] = static_cast<at::opmath_type<scalar_t>>(src[i]);
}

/// dst[i] = src[i] rounded to scalar_t (to nearest, ties to even, as c10's
/// conversions; eight Half at a time with F16C).
template <typename scalar_t>
void convert_from_opmath(const at::opmath_type<scalar_t>* src, scalar_t* dst, int64_t n) {
  int64_t i = 0;
#ifdef __F16C__
  if constexpr (std::is_same_v<scalar_t, c10::Half>) {
    for (; i + 8 <= n; i += 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                       _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    }
  }
#endif
  for (; i < n; ++i) dst[i] = static_cast<scalar_t>(src[i]);
}

/// v[i] rounded to scalar_t (to nearest, ties to even, as c10's conversions)
/// and widened back: one rounding of a value computed in op-math, eight at a
/// time with F16C.
template <typename scalar_t>
void round_through_dtype(at::opmath_type<scalar_t>* v, int64_t n) {
  if constexpr (std::is_same_v<scalar_t, at::opmath_type<scalar_t>>) return;
  int64_t i = 0;
#ifdef __F16C__
  if constexpr (std::is_same_v<scalar_t, c10::Half>) {
    for (; i + 8 <= n; i += 8) {
      const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT);
      _mm256_storeu_ps(v + i, _mm256_cvtph_ps(h));
    }
  }
#endif
  for (; i < n; ++i) v[i] = static_cast<at::opmath_type<scalar_t>>(static_cast<scalar_t>(v[i]));
}

constexpr const char* kIndexError =
    "max_pool2d backward: indices hold a position outside the input plane, got ";

template <typename scalar_t>
using Jacobian = MaxPoolJacobian<scalar_t>;

// ---------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------

/// One window scanned as ATen's cpu_max_pool scans it (rows, then columns of
/// the clipped window; `val > maxval || isnan(val)`; maxval from -inf, maxindex
/// from the first in-window position), counting the ties in the same pass.
template <typename scalar_t>
struct WindowMax {
  using opmath_t = at::opmath_type<scalar_t>;
  opmath_t value;
  int64_t index;
  int32_t ties;
};

template <typename scalar_t, typename in_t>
WindowMax<scalar_t> scan_window(const in_t* in, const PoolGeometry& g, WindowRange rh, WindowRange rw) {
  using opmath_t = at::opmath_type<scalar_t>;
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
  return {maxval, maxindex, count};
}

/// Windows per block of the row scan below: one AVX register of float lanes
/// twice over, and enough independent chains to hide the compare latency.
constexpr int64_t kRowBlock = 16;

/// kRowBlock horizontally adjacent windows of output row `oh`, all of whose
/// columns lie inside the input, scanned together: the same taps in the same
/// order per window as scan_window (so the same results bit for bit), but the
/// windows' compare-and-select chains run side by side, where one window alone
/// is a chain of dependent selects (the 3×3 stem's forward was 1.3× native).
/// kStride is the horizontal stride when it is known at compile time (0: use
/// g.stride_w), so that the strided loads vectorise. Flat indices in int32:
/// the caller checks that the plane fits.
template <typename scalar_t, int64_t kStride, typename in_t>
void scan_row_block(const in_t* in, const PoolGeometry& g, WindowRange rh, int64_t ow0, scalar_t* out,
                    int64_t* ind, int32_t* tie, const Jacobian<scalar_t>& jac, bool mixture) {
  using opmath_t = at::opmath_type<scalar_t>;
  // Index and count lanes as wide as the value lanes (int64 beside double),
  // so that the three arrays vectorise together.
  using lane_t = std::conditional_t<sizeof(opmath_t) == 8, int64_t, int32_t>;
  const int64_t sw = kStride > 0 ? kStride : g.stride_w;
  const auto col0 = static_cast<lane_t>(ow0 * sw - g.pad_w);
  opmath_t maxval[kRowBlock];
  lane_t maxindex[kRowBlock];
  lane_t count[kRowBlock];
  const lane_t first = static_cast<lane_t>(rh.start * g.input_w) + col0;
  for (int64_t j = 0; j < kRowBlock; ++j) {
    maxval[j] = -std::numeric_limits<opmath_t>::infinity();
    maxindex[j] = first + static_cast<lane_t>(j * sw);
    count[j] = 0;
  }
  for (int64_t ih = rh.start; ih < rh.end; ih += g.dilation_h) {
    for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
      const lane_t start = static_cast<lane_t>(ih * g.input_w + kw * g.dilation_w) + col0;
      const in_t* tap = in + start;
      for (int64_t j = 0; j < kRowBlock; ++j) {
        const auto val = static_cast<opmath_t>(tap[j * sw]);
        const lane_t index = start + static_cast<lane_t>(j * sw);
        const bool take = (val > maxval[j]) | (val != val);
        const bool same = val == maxval[j];
        maxindex[j] = take ? index : maxindex[j];
        count[j] = take ? 1 : count[j] + static_cast<lane_t>(same);
        maxval[j] = take ? val : maxval[j];
      }
    }
  }
  for (int64_t j = 0; j < kRowBlock; ++j) {
    out[j] = mixture ? jac.mixture_value(maxval[j]) : static_cast<scalar_t>(maxval[j]);
    ind[j] = maxindex[j];
    tie[j] = static_cast<int32_t>(count[j]);
  }
}

/// The output columns [begin, end) whose windows lie wholly inside the
/// input's columns (no clipping, no padding tap).
inline WindowRange interior_columns(const PoolGeometry& g) {
  // ow * stride - pad >= 0 and ow * stride - pad + (kernel - 1) * dilation + 1 <= input.
  const int64_t begin = std::min<int64_t>((g.pad_w + g.stride_w - 1) / g.stride_w, g.output_w);
  const int64_t span = (g.kernel_w - 1) * g.dilation_w + 1;
  const int64_t last = g.input_w + g.pad_w - span;  // largest ow * stride allowed
  const int64_t end = last < 0 ? 0 : std::min<int64_t>(last / g.stride_w + 1, g.output_w);
  return {begin, std::max(begin, end)};
}

/// The same window of kRowBlock consecutive planes (`in` and `out`/`ind`/`tie`
/// at the first plane's element (0, 0)), scanned side by side like
/// scan_row_block: for planes narrower than a row block (VGG's deeper pools
/// have 1 to 8 output columns), whose windows would otherwise each be one
/// chain of dependent selects.
template <typename scalar_t, typename in_t>
void scan_plane_block(const in_t* in, int64_t in_plane, int64_t out_plane, const PoolGeometry& g,
                      WindowRange rh, WindowRange rw, int64_t o, scalar_t* out, int64_t* ind, int32_t* tie,
                      const Jacobian<scalar_t>& jac, bool mixture) {
  using opmath_t = at::opmath_type<scalar_t>;
  opmath_t maxval[kRowBlock];
  int64_t maxindex[kRowBlock];
  int32_t count[kRowBlock];
  const int64_t first = rh.start * g.input_w + rw.start;
  for (int64_t j = 0; j < kRowBlock; ++j) {
    maxval[j] = -std::numeric_limits<opmath_t>::infinity();
    maxindex[j] = first;
    count[j] = 0;
  }
  for (int64_t ih = rh.start; ih < rh.end; ih += g.dilation_h) {
    for (int64_t iw = rw.start; iw < rw.end; iw += g.dilation_w) {
      const int64_t index = ih * g.input_w + iw;
      for (int64_t j = 0; j < kRowBlock; ++j) {
        const auto val = static_cast<opmath_t>(in[j * in_plane + index]);
        const bool take = (val > maxval[j]) | (val != val);
        const bool same = val == maxval[j];
        maxindex[j] = take ? index : maxindex[j];
        count[j] = take ? 1 : count[j] + static_cast<int32_t>(same);
        maxval[j] = take ? val : maxval[j];
      }
    }
  }
  for (int64_t j = 0; j < kRowBlock; ++j) {
    const int64_t at = j * out_plane + o;
    out[at] = mixture ? jac.mixture_value(maxval[j]) : static_cast<scalar_t>(maxval[j]);
    ind[at] = maxindex[j];
    tie[at] = count[j];
  }
}

template <typename scalar_t, int64_t kStride>
void forward_nchw_rows(const scalar_t* in_data, scalar_t* out_data, int64_t* ind_data, int32_t* tie_data,
                       int64_t planes, const PoolGeometry& g, const Jacobian<scalar_t>& jac, bool mixture) {
  using opmath_t = at::opmath_type<scalar_t>;
  constexpr bool kStaged = !std::is_same_v<scalar_t, opmath_t>;
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t out_plane = g.output_h * g.output_w;
  // Flat indices of the row blocks are int32: the furthest a window start
  // reaches is below (input_h + span_h) * input_w.
  const bool blocks = (g.input_h + (g.kernel_h - 1) * g.dilation_h + 1) * g.input_w + g.input_w <
                      std::numeric_limits<int32_t>::max();
  const WindowRange interior = blocks ? interior_columns(g) : WindowRange{0, 0};
  // Rows with less than a block of interior windows: blocks of planes instead.
  const int64_t plane_block = interior.end - interior.start < kRowBlock ? kRowBlock : 1;
  const int64_t groups = (planes + plane_block - 1) / plane_block;
  // Half/BFloat16 planes are widened to op-math once, in vector registers
  // (convert_to_opmath), and scanned there: widening tap by tap costs a scalar
  // conversion per tap (the f16 forward was 1.3× native). Up to kMaxStaged
  // elements per thread; larger planes widen tap by tap.
  constexpr int64_t kMaxStaged = int64_t{1} << 16;
  const bool staged = kStaged && plane_block * in_plane <= kMaxStaged;
  at::parallel_for(0, groups, 0, [&](int64_t group_begin, int64_t group_end) {
    std::vector<opmath_t> buffer(staged ? plane_block * in_plane : 0);
    // Planes p .. p + count of `in` (the input or its widened copy).
    auto scan = [&](const auto* in, int64_t p, int64_t count) {
      if (count > 1) {
        for (int64_t oh = 0; oh < g.output_h; ++oh) {
          const auto rh = window_range(oh, g.stride_h, g.pad_h, g.kernel_h, g.dilation_h, g.input_h);
          for (int64_t ow = 0; ow < g.output_w; ++ow) {
            const auto rw = window_range(ow, g.stride_w, g.pad_w, g.kernel_w, g.dilation_w, g.input_w);
            const int64_t o = p * out_plane;
            scan_plane_block<scalar_t>(in, in_plane, out_plane, g, rh, rw, oh * g.output_w + ow, out_data + o,
                                       ind_data + o, tie_data + o, jac, mixture);
          }
        }
        return;
      }
      for (int64_t oh = 0; oh < g.output_h; ++oh) {
        const auto rh = window_range(oh, g.stride_h, g.pad_h, g.kernel_h, g.dilation_h, g.input_h);
        const int64_t o = p * out_plane + oh * g.output_w;
        scalar_t* out = out_data + o;
        int64_t* ind = ind_data + o;
        int32_t* tie = tie_data + o;
        auto one = [&](int64_t ow) {
          const auto rw = window_range(ow, g.stride_w, g.pad_w, g.kernel_w, g.dilation_w, g.input_w);
          const auto w = scan_window<scalar_t>(in, g, rh, rw);
          out[ow] = mixture ? jac.mixture_value(w.value) : static_cast<scalar_t>(w.value);
          ind[ow] = w.index;
          tie[ow] = w.ties;
        };
        int64_t ow = 0;
        for (; ow < interior.start; ++ow) one(ow);
        for (; ow + kRowBlock <= interior.end; ow += kRowBlock) {
          scan_row_block<scalar_t, kStride>(in, g, rh, ow, out + ow, ind + ow, tie + ow, jac, mixture);
        }
        for (; ow < g.output_w; ++ow) one(ow);
      }
    };
    for (int64_t p = group_begin * plane_block; p < std::min(planes, group_end * plane_block);) {
      const int64_t count = plane_block > 1 && p + plane_block <= planes ? plane_block : 1;
      const scalar_t* source = in_data + p * in_plane;
      if (staged) {
        convert_to_opmath(source, buffer.data(), count * in_plane);
        scan(buffer.data(), p, count);
      } else {
        scan(source, p, count);
      }
      p += count;
    }
  });
}

template <typename scalar_t>
void forward_nchw(const scalar_t* in_data, scalar_t* out_data, int64_t* ind_data, int32_t* tie_data,
                  int64_t planes, const PoolGeometry& g, const Jacobian<scalar_t>& jac, bool mixture) {
  // Stride 2 (VGG's 2×2 pools, ResNet's 3×3 stem) and 1 with a stride known
  // to the compiler; the rest share one build.
  if (g.stride_w == 2) {
    forward_nchw_rows<scalar_t, 2>(in_data, out_data, ind_data, tie_data, planes, g, jac, mixture);
  } else if (g.stride_w == 1) {
    forward_nchw_rows<scalar_t, 1>(in_data, out_data, ind_data, tie_data, planes, g, jac, mixture);
  } else {
    forward_nchw_rows<scalar_t, 0>(in_data, out_data, ind_data, tie_data, planes, g, jac, mixture);
  }
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

/// NCHW backward where windows cannot overlap (the VGG pools): each element
/// gets at most one window's contribution, so a range of planes is one flat
/// loop over its windows, written straight into zeroed grad_input. The value
/// at i* is the same formula for every t >= 1 in the mixture and for t = 1 in
/// pure; it is computed for a chunk of windows at a time in a loop without
/// branches (which the compiler vectorises: the mixture's product, quotient and
/// two sums per window), then scattered; tied windows (t >= 2, about 1 in 16 on
/// ReLU activations) and windows with no tap (t = 0) take the per-window path.
/// Per-plane set-up is gone, which dominated planes of 1 to 16 windows.
template <typename scalar_t>
void backward_nchw_disjoint(const scalar_t* gout_data, const scalar_t* in_data, const int64_t* ind_data,
                            const int32_t* tie_data, scalar_t* gin_data, int64_t planes,
                            const PoolGeometry& g, const Jacobian<scalar_t>& jac, bool mixture) {
  using opmath_t = at::opmath_type<scalar_t>;
  using acc_t = pure_acc_t<scalar_t>;
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t out_plane = g.output_h * g.output_w;
  const WindowBackward<scalar_t> window{jac, g};
  constexpr int64_t kChunk = 256;

  at::parallel_for(0, planes, 0, [&](int64_t begin, int64_t end) {
    std::fill(gin_data + begin * in_plane, gin_data + end * in_plane, scalar_t(0));
    opmath_t gv[kChunk], share[kChunk], native[kChunk];
    scalar_t value[kChunk];
    int64_t p = begin;       // plane of window o
    int64_t in_plane_o = 0;  // o's position in its plane
    for (int64_t chunk = begin * out_plane; chunk < end * out_plane; chunk += kChunk) {
      const int64_t n = std::min(kChunk, end * out_plane - chunk);
      const scalar_t* gout = gout_data + chunk;
      const int32_t* tie = tie_data + chunk;
      // In op-math, each rounding to the dtype a pass of its own
      // (round_through_dtype): the loops stay free of scalar conversions.
      convert_to_opmath(gout, gv, n);
      if (mixture) {
        for (int64_t k = 0; k < n; ++k) {
          share[k] = mul_rn(jac.mix_beta, gv[k]);
          native[k] = mul_rn(jac.mix_one_minus_beta, gv[k]);
        }
        round_through_dtype<scalar_t>(share, n);
        round_through_dtype<scalar_t>(native, n);
        for (int64_t k = 0; k < n; ++k) {
          const int32_t t = tie[k] > 0 ? tie[k] : 1;  // t = 0: no tap, nothing written
          share[k] = div_rn(share[k], static_cast<opmath_t>(t));
          // The study's MinNormPool assigns its share; native backward adds into zeros.
          native[k] = add_rn(opmath_t(0), native[k]);
        }
        round_through_dtype<scalar_t>(share, n);
        round_through_dtype<scalar_t>(native, n);
        for (int64_t k = 0; k < n; ++k) share[k] = add_rn(share[k], native[k]);
      } else {
        for (int64_t k = 0; k < n; ++k)
          share[k] = static_cast<opmath_t>(acc_t(0) + static_cast<acc_t>(gv[k]));
      }
      convert_from_opmath(share, value, n);
      for (int64_t k = 0; k < n; ++k, ++in_plane_o) {
        if (in_plane_o == out_plane) {
          in_plane_o = 0;
          ++p;
        }
        const int64_t o = chunk + k;
        const int32_t t = tie[k];
        const int64_t selected = ind_data[o];
        if (t == 0) continue;
        TORCH_CHECK(selected >= 0 && selected < in_plane, kIndexError, selected);
        scalar_t* gin = gin_data + p * in_plane;
        if (C10_LIKELY(t == 1) || mixture) gin[selected] = value[k];
        if (C10_LIKELY(t == 1)) continue;
        const int64_t oh = in_plane_o / g.output_w;
        const int64_t ow = in_plane_o % g.output_w;
        const scalar_t* in = in_data + p * in_plane;
        if (mixture) {
          const scalar_t tied = Jacobian<scalar_t>::add_in_dtype(
              jac.mixture_min_share(static_cast<opmath_t>(gout[k]), t), scalar_t(0));
          window.for_each_tie(in, 1, oh, ow, selected, [&](int64_t at) { gin[at] = tied; });
        } else {
          window.pure(in, 1, gin, oh, ow, selected, t, gout[k]);
        }
      }
    }
  });
}

template <typename scalar_t>
void backward_nchw(const scalar_t* gout_data, const scalar_t* in_data, const int64_t* ind_data,
                   const int32_t* tie_data, scalar_t* gin_data, int64_t planes, const PoolGeometry& g,
                   const Jacobian<scalar_t>& jac, bool mixture) {
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t out_plane = g.output_h * g.output_w;
  const bool disjoint = g.windows_disjoint();
  if (disjoint) {
    backward_nchw_disjoint(gout_data, in_data, ind_data, tie_data, gin_data, planes, g, jac, mixture);
    return;
  }
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
