#include "support/bench_support.h"

#include "tiebreak/core/build_info.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <sstream>
#include <string_view>

namespace tiebreak::bench {

at::Tensor TwoPoolMinNormPool::forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                                       int64_t kernel, int64_t stride, int64_t padding) {
  auto y = at::max_pool2d(x, {kernel, kernel}, {stride, stride}, {padding, padding});
  ctx->save_for_backward({x, y});
  ctx->saved_data["kernel"] = kernel;
  ctx->saved_data["stride"] = stride;
  ctx->saved_data["padding"] = padding;
  return y;
}

torch::autograd::variable_list TwoPoolMinNormPool::backward(torch::autograd::AutogradContext* ctx,
                                                            torch::autograd::variable_list grads) {
  const auto saved = ctx->get_saved_variables();
  const at::Tensor& x = saved[0];
  const at::Tensor& y = saved[1];
  const at::Tensor& g = grads[0];
  const int64_t k = ctx->saved_data["kernel"].toInt();
  const int64_t s = ctx->saved_data["stride"].toInt();
  const int64_t p = ctx->saved_data["padding"].toInt();
  const int64_t h = x.size(-2);
  const int64_t w = x.size(-1);
  at::Tensor grad;
  if (s == k && p == 0 && h % k == 0 && w % k == 0) {
    // Tiled windows: the maximum upsampled to full size marks every tied position.
    const auto mask = x == at::upsample_nearest2d(y, {h, w});
    const auto ties = at::avg_pool2d(mask.to(x.scalar_type()), {k, k}, {k, k}, {0, 0}, false, true,
                                     /*divisor_override=*/1);
    grad = at::upsample_nearest2d(g / ties, {h, w}) * mask;
  } else {
    // Overlapping or padded windows: one column per window (im2col of the
    // input padded with −inf), the mask per column, and the shares added into
    // the dtype one by one in window order (a flat index_add), as native
    // max_pool2d's CPU backward adds overlapping windows.
    const int64_t planes = x.size(0) * x.size(1);
    const int64_t hp = h + 2 * p, wp = w + 2 * p;
    const auto padded =
        p > 0 ? at::constant_pad_nd(x, {p, p, p, p}, -std::numeric_limits<double>::infinity()) : x;
    const auto columns = at::im2col(padded, {k, k}, {1, 1}, {0, 0}, {s, s});
    const int64_t windows = columns.size(-1);
    const auto taps = columns.view({planes, k * k, windows}).transpose(1, 2);  // window-major
    const auto positions =
        at::im2col(at::arange(hp * wp, x.options().dtype(at::kDouble)).view({1, 1, hp, wp}), {k, k}, {1, 1},
                   {0, 0}, {s, s})
            .view({k * k, windows})
            .t()
            .reshape({1, -1})
            .to(at::kLong);
    const auto flat_positions =
        (positions + at::arange(planes, positions.options()).unsqueeze(1) * (hp * wp)).reshape({-1});
    const auto mask = taps == y.reshape({planes, windows, 1});
    const auto ties = mask.sum(-1, /*keepdim=*/true, x.scalar_type());
    const auto share = g.reshape({planes, windows, 1}) / ties;
    const auto contributions = at::where(mask, share, at::zeros({}, share.options())).reshape({-1});
    grad = at::zeros({planes * hp * wp}, x.options()).index_add_(0, flat_positions, contributions);
    grad = grad.view({x.size(0), x.size(1), hp, wp}).narrow(2, p, h).narrow(3, p, w);
  }
  return {grad, at::Tensor(), at::Tensor(), at::Tensor()};
}

at::Tensor two_pool_mixture(const at::Tensor& x, const PoolShape& shape, double beta) {
  const int64_t k = shape.kernel;
  const int64_t s = shape.stride;
  const int64_t p = shape.padding;
  return beta * TwoPoolMinNormPool::apply(x, k, s, p) +
         (1.0 - beta) * at::max_pool2d(x, {k, k}, {s, s}, {p, p});
}

namespace {

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  std::exit(2);
}

std::vector<c10::Device> parse_devices(std::string_view list) {
  std::vector<c10::Device> devices;
  std::stringstream stream{std::string(list)};
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item == "cpu") {
      devices.emplace_back(c10::kCPU);
    } else if (item == "cuda") {
      devices.emplace_back(c10::kCUDA);
    } else {
      usage_error("--tiebreak_device: expected a comma-separated list of cpu and cuda, got '" + item + "'");
    }
  }
  if (devices.empty()) usage_error("--tiebreak_device: expected cpu, cuda or cpu,cuda, got an empty list");
  return devices;
}

}  // namespace

RunOptions parse_run_options(int* argc, char** argv) {
  RunOptions options;
  bool devices_given = false;
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--tiebreak_smoke") {
      options.smoke = true;
    } else if (arg.rfind("--tiebreak_device=", 0) == 0) {
      options.devices = parse_devices(arg.substr(std::strlen("--tiebreak_device=")));
      devices_given = true;
    } else if (arg.rfind("--tiebreak_threads=", 0) == 0) {
      const std::string value(arg.substr(std::strlen("--tiebreak_threads=")));
      char* end = nullptr;
      const long threads = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || threads < 1) {
        usage_error("--tiebreak_threads: expected a positive integer, got '" + value + "'");
      }
      at::set_num_threads(static_cast<int>(threads));
    } else if (arg.rfind("--tiebreak_", 0) == 0) {
      usage_error("unknown flag '" + std::string(arg) +
                  "' (expected --tiebreak_smoke, --tiebreak_device=LIST or --tiebreak_threads=N)");
    } else {
      argv[kept++] = argv[i];
    }
  }
  *argc = kept;
  if (!devices_given) options.devices = {c10::Device(c10::kCPU), c10::Device(c10::kCUDA)};
  std::vector<c10::Device> present;
  for (const auto& device : options.devices) {
    if (device.is_cuda() && !torch::cuda::is_available()) {
      std::cerr << "note: CUDA benchmarks skipped: no CUDA device is available\n";
      continue;
    }
    present.push_back(device);
  }
  options.devices = present;
  return options;
}

void add_run_context(const RunOptions& options) {
  const auto info = tiebreak::build_info();
  benchmark::AddCustomContext("tiebreak_version", info.version);
  benchmark::AddCustomContext("tiebreak_git_revision", info.git_revision);
  benchmark::AddCustomContext("libtorch_version", info.libtorch_version);
  benchmark::AddCustomContext("intra_op_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("cuda_available", torch::cuda::is_available() ? "yes" : "no");
  std::string devices;
  for (const auto& device : options.devices) devices += (devices.empty() ? "" : ",") + device.str();
  benchmark::AddCustomContext("devices", devices.empty() ? "none" : devices);
  benchmark::AddCustomContext("smoke", options.smoke ? "yes" : "no");
}

std::string dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf:
      return "f16";
    case at::kBFloat16:
      return "bf16";
    case at::kFloat:
      return "f32";
    case at::kDouble:
      return "f64";
    default:
      return c10::toString(dtype);
  }
}

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
}

bool real_data_present(const std::string& relative_file, const std::string& benchmarks) {
  const auto path = shared_data_root() / relative_file;
  if (std::filesystem::exists(path)) return true;
  std::cerr << "note: " << benchmarks << " skipped: " << path.string()
            << " not found (point TIEBREAK_DATA at the data root)\n";
  return false;
}

int run_benchmark_program(int argc, char** argv, const std::function<void(const RunOptions&)>& register_all) {
  // Every error, from option parsing to a benchmark body, ends here as one line:
  // Google Benchmark lets exceptions through, and an uncaught one would abort.
  const std::string program =
      std::filesystem::path(argc > 0 ? argv[0] : "tiebreak_bench").filename().string();
  try {
    const auto options = parse_run_options(&argc, argv);
    add_run_context(options);
    register_all(options);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    std::cerr << program << ": error: " << what.substr(0, what.find('\n')) << "\n";
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << program << ": error: an unknown exception ended the program\n";
  }
  return 1;
}

}  // namespace tiebreak::bench
