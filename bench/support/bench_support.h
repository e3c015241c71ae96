#pragma once

// Shared pieces of the tiebreak benchmark programs: the C++ re-creation of the
// study's two-pool β-Jacobian (the apples-to-apples C++ baseline for
// tiebreak::ops::max_pool2d), the run options every program understands, and
// the run context written into Google Benchmark's JSON output.

#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <c10/core/Device.h>
#include <torch/autograd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace tiebreak::bench {

/// Geometry of one pooling layer: square kernel, stride and padding, as the
/// benchmarked models use them.
struct PoolShape {
  std::string name;  ///< e.g. "vgg1_128x64x32x32_k2s2"
  std::vector<int64_t> input_sizes;
  int64_t kernel = 2;
  int64_t stride = 2;
  int64_t padding = 0;
};

/// MinNormPool as the study writes it in Python, recreated with ATen ops:
/// forward is a max_pool2d pass; backward builds a full-size mask of the
/// positions equal to their window's maximum, counts the ties per window with a
/// sum pool, and scatters g/t onto the mask. Non-overlapping windows use
/// nearest upsampling (the usual PyTorch idiom); overlapping or padded windows
/// use unfold/fold (im2col/col2im), the general PyTorch idiom.
///
/// Example:
/// ```
/// auto y = TwoPoolMinNormPool::apply(x, 3, 2, 1);
/// ```
struct TwoPoolMinNormPool : public torch::autograd::Function<TwoPoolMinNormPool> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t kernel,
                            int64_t stride, int64_t padding);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads);
};

/// The study's β-Jacobian: β·MinNormPool(x) + (1−β)·MaxPool2d(x), two pooling
/// passes forward and two backward, evaluated tensor by tensor like PyTorch.
at::Tensor two_pool_mixture(const at::Tensor& x, const PoolShape& shape, double beta);

/// Options common to every tiebreak benchmark program, parsed (and removed from
/// argv) before Google Benchmark sees the command line:
///   --tiebreak_smoke          tiny inputs, for the ctest check that everything runs
///   --tiebreak_device=LIST    cpu, cuda or cpu,cuda (default: cpu, plus cuda when available)
///   --tiebreak_threads=N      at::set_num_threads(N) (default: LibTorch's choice)
struct RunOptions {
  bool smoke = false;
  std::vector<c10::Device> devices;
};

/// Parses and strips the --tiebreak_* flags; a bad value is a one-line error and exit(2).
/// Devices asked for but absent (cuda without a GPU) are dropped with a note on stderr.
RunOptions parse_run_options(int* argc, char** argv);

/// Adds library versions, thread count, devices and the build info (version, git revision) to the
/// benchmark context (the "context" object of --benchmark_format=json).
void add_run_context(const RunOptions& options);

/// "f16", "f32", "f64", "bf16".
std::string dtype_name(at::ScalarType dtype);

/// Blocks until queued work on `device` is done (no-op on the CPU), so a
/// timed iteration covers its kernels.
void synchronize(const c10::Device& device);

/// The real data (`mnist/`, `cifar-10/`): $TIEBREAK_DATA, else ../shared/data
/// beside the source tree (the tests' rule).
std::filesystem::path shared_data_root();

/// Whether `relative_file` exists under shared_data_root(); when not, says on
/// stderr that `benchmarks` are skipped and why, so that a checkout without the
/// data runs the rest.
bool real_data_present(const std::string& relative_file, const std::string& benchmarks);

/// A benchmark program's main(): parses the --tiebreak_* flags, records the run
/// context, lets `register_all` register the benchmarks for those options and
/// runs Google Benchmark on the remaining flags; returns the exit code.
int run_benchmark_program(int argc, char** argv, const std::function<void(const RunOptions&)>& register_all);

}  // namespace tiebreak::bench
