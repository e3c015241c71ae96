// Op-level benchmark: MaxPool2d forward + backward at the activation shapes of
// VGG11 on CIFAR-10 (batch 128) and ResNet's ImageNet stem, per dtype and
// device, for
//   native                 at::max_pool2d (ATen's own kernels, autograd backward)
//   tiebreak_pure_b<β>     tiebreak::ops::max_pool2d, PoolFormulation::Pure
//   tiebreak_mixture_b<β>  tiebreak::ops::max_pool2d, PoolFormulation::Mixture
//   twopool_b1000          β·MinNormPool(x) + (1−β)·MaxPool2d(x) written with ATen
//                          ops (the study's two-pool formulation, recreated in C++)
// and NormPool2d (the study's L2 pool) against PyTorch's LPPool2d formula:
//   native                 avg_pool2d(x², zero padding counted) · k², then sqrt, with
//                          autograd (torch.nn.functional.lp_pool2d at p = 2, padded)
//   tiebreak_norm_pool     tiebreak::ops::norm_pool2d (grad_at_zero 0)
// Benchmark names are "<mode>/<device>/<dtype>/<shape>/<impl>" with mode
// "fwdbwd" (forward then backward of a fixed upstream gradient), "fwd"
// (forward under no_grad) or "normpool" (NormPool forward + backward). scripts/bench_report.py turns the JSON
// output into ratio-to-native tables.
//
// Inputs are ReLU(N(0, 1)) activations, as a pool after conv+ReLU sees them:
// a 2×2 window is all zeros (a 4-way tie) with probability 1/16.

#include "support/bench_support.h"

#include "tiebreak/ops/max_pool2d.h"
#include "tiebreak/ops/norm_pool2d.h"

#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <torch/autograd.h>

#include <functional>
#include <string>
#include <vector>

namespace tiebreak::bench {
namespace {

using PoolFn = std::function<at::Tensor(const at::Tensor&, const PoolShape&)>;

struct Impl {
  std::string name;
  PoolFn pool;
};

std::vector<Impl> implementations() {
  std::vector<Impl> impls;
  impls.push_back(
      {"native", [](const at::Tensor& x, const PoolShape& s) {
         return at::max_pool2d(x, {s.kernel, s.kernel}, {s.stride, s.stride}, {s.padding, s.padding});
       }});
  for (auto formulation : {ops::PoolFormulation::Pure, ops::PoolFormulation::Mixture}) {
    for (double beta : {0.0, 1.0, 1000.0}) {
      impls.push_back(
          {"tiebreak_" + ops::to_string(formulation) + "_b" + std::to_string(static_cast<int>(beta)),
           [formulation, beta](const at::Tensor& x, const PoolShape& s) {
             return ops::max_pool2d(x, {s.kernel, s.kernel}, {s.stride, s.stride}, {s.padding, s.padding}, 1,
                                    false, beta, formulation);
           }});
    }
  }
  impls.push_back({"twopool_b1000",
                   [](const at::Tensor& x, const PoolShape& s) { return two_pool_mixture(x, s, 1000.0); }});
  return impls;
}

std::vector<Impl> norm_pool_implementations() {
  return {
      {"native",
       [](const at::Tensor& x, const PoolShape& s) {
         // LPPool2d's formula (p = 2) with padding: count_include_pad makes
         // avg · k² the plain sum of squares over the window.
         return at::avg_pool2d(x * x, {s.kernel, s.kernel}, {s.stride, s.stride}, {s.padding, s.padding},
                               false, true)
             .mul(static_cast<double>(s.kernel * s.kernel))
             .sqrt();
       }},
      {"tiebreak_norm_pool",
       [](const at::Tensor& x, const PoolShape& s) {
         return ops::norm_pool2d(x, {s.kernel, s.kernel}, {s.stride, s.stride}, {s.padding, s.padding});
       }},
  };
}

std::vector<PoolShape> shapes(bool smoke) {
  if (smoke) {
    return {{"smoke_2x3x8x8_k2s2", {2, 3, 8, 8}, 2, 2, 0}, {"smoke_2x3x9x9_k3s2p1", {2, 3, 9, 9}, 3, 2, 1}};
  }
  return {
      {"vgg1_128x64x32x32_k2s2", {128, 64, 32, 32}, 2, 2, 0},
      {"vgg2_128x128x16x16_k2s2", {128, 128, 16, 16}, 2, 2, 0},
      {"vgg3_128x256x8x8_k2s2", {128, 256, 8, 8}, 2, 2, 0},
      {"vgg4_128x512x4x4_k2s2", {128, 512, 4, 4}, 2, 2, 0},
      {"vgg5_128x512x2x2_k2s2", {128, 512, 2, 2}, 2, 2, 0},
      {"stem_32x64x112x112_k3s2p1", {32, 64, 112, 112}, 3, 2, 1},
  };
}

/// The input activations of one (shape, dtype, device), made once and reused
/// by every implementation benchmarked on them (benchmarks run in
/// registration order, so one cached entry suffices).
const at::Tensor& activations(const PoolShape& shape, at::ScalarType dtype, const c10::Device& device) {
  static std::string cached_key;
  static at::Tensor cached;
  const std::string key = shape.name + "/" + dtype_name(dtype) + "/" + device.str();
  if (key != cached_key) {
    cached = at::Tensor();  // free the previous one first
    at::manual_seed(20240);
    cached = at::relu(at::randn(shape.input_sizes, at::TensorOptions().dtype(at::kFloat)))
                 .to(at::TensorOptions().dtype(dtype).device(device));
    cached_key = key;
  }
  return cached;
}

void set_counters(benchmark::State& state, const at::Tensor& x) {
  state.SetItemsProcessed(state.iterations() * x.numel());
  state.SetBytesProcessed(state.iterations() * x.numel() * static_cast<int64_t>(x.element_size()));
}

void forward_backward(benchmark::State& state, const Impl& impl, PoolShape shape, at::ScalarType dtype,
                      c10::Device device) {
  const auto& input = activations(shape, dtype, device);
  const auto x = input.detach().requires_grad_(true);
  at::Tensor upstream;
  {
    at::NoGradGuard no_grad;
    at::manual_seed(7);
    upstream = at::randn_like(impl.pool(input, shape));
  }
  for (auto _ : state) {
    auto y = impl.pool(x, shape);
    y.backward(upstream);
    benchmark::DoNotOptimize(x.grad().data_ptr());
    x.mutable_grad().reset();
    synchronize(device);
  }
  set_counters(state, input);
}

void forward_only(benchmark::State& state, const Impl& impl, PoolShape shape, at::ScalarType dtype,
                  c10::Device device) {
  const auto& x = activations(shape, dtype, device);
  at::NoGradGuard no_grad;
  for (auto _ : state) {
    auto y = impl.pool(x, shape);
    benchmark::DoNotOptimize(y.data_ptr());
    synchronize(device);
  }
  set_counters(state, x);
}

void register_all(const RunOptions& options) {
  const auto impls = implementations();
  const auto norm_impls = norm_pool_implementations();
  for (const auto& device : options.devices) {
    for (const auto& shape : shapes(options.smoke)) {
      for (auto dtype : {at::kHalf, at::kFloat, at::kDouble}) {
        const std::string group = device.str() + "/" + dtype_name(dtype) + "/" + shape.name + "/";
        for (const auto& impl : impls) {
          benchmark::RegisterBenchmark(("fwdbwd/" + group + impl.name).c_str(), forward_backward, impl, shape,
                                       dtype, device)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
        }
        for (const auto& impl : norm_impls) {
          benchmark::RegisterBenchmark(("normpool/" + group + impl.name).c_str(), forward_backward, impl,
                                       shape, dtype, device)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
        }
        // Forward alone in float, to split the fwd+bwd ratio into its halves.
        if (dtype != at::kFloat) continue;
        for (const auto& impl : impls) {
          if (impl.name != "native" && impl.name != "tiebreak_pure_b1000" &&
              impl.name != "tiebreak_mixture_b1000" && impl.name != "twopool_b1000") {
            continue;
          }
          benchmark::RegisterBenchmark(("fwd/" + group + impl.name).c_str(), forward_only, impl, shape, dtype,
                                       device)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
        }
      }
    }
  }
}

}  // namespace
}  // namespace tiebreak::bench

int main(int argc, char** argv) {
  return tiebreak::bench::run_benchmark_program(argc, argv, tiebreak::bench::register_all);
}
