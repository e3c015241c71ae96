#include "tiebreak/demo/zero_example.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace tiebreak::demo {

namespace {

// Error-free transformation: a + b == s + e exactly (Knuth's TwoSum).
void two_sum(double a, double b, double& s, double& e) {
  s = a + b;
  const double bb = s - a;
  e = (a - (s - bb)) + (b - bb);
}

// Whether Σ values is exactly 0, with a nonoverlapping expansion (Shewchuk's
// grow-expansion): no rounding anywhere, so a real tie is told from a near one.
bool exact_sum_is_zero(const std::vector<double>& values) {
  std::vector<double> expansion;
  for (double v : values) {
    double q = v;
    std::vector<double> next;
    for (double component : expansion) {
      double s, e;
      two_sum(q, component, s, e);
      if (e != 0.0) next.push_back(e);
      q = s;
    }
    if (q != 0.0) next.push_back(q);
    expansion = std::move(next);
  }
  return std::all_of(expansion.begin(), expansion.end(), [](double c) { return c == 0.0; });
}

double round_to(double value, at::ScalarType dtype) {
  return at::scalar_tensor(value, at::TensorOptions().dtype(at::kDouble))
      .to(dtype)
      .to(at::kDouble)
      .item<double>();
}

std::string dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf:
      return "float16";
    case at::kBFloat16:
      return "bfloat16";
    case at::kFloat:
      return "float32";
    case at::kDouble:
      return "float64";
    default:
      return c10::toString(dtype);
  }
}

int significant_digits(at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf:
      return 5;
    case at::kBFloat16:
      return 4;
    case at::kFloat:
      return 9;
    default:
      return 17;
  }
}

std::string format_number(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string hex_float(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

// AD's answer over the reals for the same program at (t, x): max1 gives the
// gradient to the first maximum of t·x, max2 splits it over all maxima.
std::pair<double, bool> real_ad_derivative(const ZeroVector& x, double t) {
  std::vector<size_t> tied;
  for (size_t i = 0; i < x.size(); ++i) {
    // t·x_i vs t·x_j over the reals: ordered as x for t > 0, reversed for t < 0, all equal for t = 0.
    if (tied.empty()) {
      tied.push_back(i);
      continue;
    }
    const double best = x[tied.front()];
    const bool equal = t == 0.0 || x[i] == best;
    const bool larger = t > 0.0 ? x[i] > best : (t < 0.0 && x[i] < best);
    if (larger) {
      tied.assign(1, i);
    } else if (equal) {
      tied.push_back(i);
    }
  }
  // x[i*] − mean(x_T) = −(1/|T|) Σ_T (x_i − x[i*]); each difference split exactly.
  const double first = x[tied.front()];
  std::vector<double> parts;
  long double approx = 0;
  for (size_t i : tied) {
    double s, e;
    two_sum(x[i], -first, s, e);
    parts.push_back(s);
    parts.push_back(e);
    approx += static_cast<long double>(x[i]) - first;
  }
  const bool zero = exact_sum_is_zero(parts);
  const double value = zero ? 0.0 : static_cast<double>(-approx / static_cast<long double>(tied.size()));
  return {value, zero};
}

}  // namespace

std::string to_string(ZeroZone zone) {
  switch (zone) {
    case ZeroZone::None:
      return "-";
    case ZeroZone::Bifurcation:
      return "bifurcation";
    case ZeroZone::Compensation:
      return "compensation";
  }
  return "?";
}

at::Tensor first_max(const at::Tensor& y) {
  TORCH_CHECK(y.dim() == 1 && y.numel() > 0, "first_max: expected a non-empty 1-D tensor, got shape ",
              y.sizes());
  auto m = y.select(0, 0);
  for (int64_t i = 1; i < y.numel(); ++i) {
    auto yi = y.select(0, i);
    m = at::where(yi > m, yi, m);
  }
  return m;
}

at::Tensor reduction_max(const at::Tensor& y) { return y.max(); }

ZeroPoint evaluate_zero(const ZeroVector& x, double t, at::ScalarType dtype) {
  TORCH_CHECK(at::isFloatingType(dtype), "demo zero: expected a floating dtype, got ", dtype);
  at::AutoGradMode grad_mode(true);
  auto xt = at::tensor(at::ArrayRef<double>(x.data(), x.size()), at::TensorOptions().dtype(at::kDouble))
                .to(dtype)
                .contiguous();
  for (size_t i = 0; i < x.size(); ++i) {
    TORCH_CHECK(std::isfinite(x[i]) && xt[static_cast<int64_t>(i)].isfinite().item<bool>(), "demo zero: x[",
                i, "] = ", x[i], " is not finite in ", dtype_name(dtype));
  }
  TORCH_CHECK(std::isfinite(t), "demo zero: expected a finite t, got ", t);
  auto tt = at::scalar_tensor(t, at::TensorOptions().dtype(at::kDouble)).to(dtype).requires_grad_(true);
  auto y = tt * xt;
  auto z = first_max(y) - reduction_max(y);
  auto grad = torch::autograd::grad({z}, {tt})[0];

  ZeroPoint p;
  p.t = tt.detach().to(at::kDouble).item<double>();
  auto xd = xt.to(at::kDouble);
  for (size_t i = 0; i < p.x.size(); ++i) p.x[i] = xd[static_cast<int64_t>(i)].item<double>();
  p.value = z.detach().to(at::kDouble).item<double>();
  p.derivative = grad.to(at::kDouble).item<double>();
  auto [real, real_is_zero] = real_ad_derivative(p.x, p.t);
  p.real_derivative = real;
  p.zone =
      !real_is_zero ? ZeroZone::Bifurcation : (p.derivative != 0.0 ? ZeroZone::Compensation : ZeroZone::None);
  return p;
}

ZeroVector paper_x_compensation() {
  const double v = static_cast<double>(1.14f);
  return {v, v, v, v};
}

ZeroVector paper_x_bifurcation() { return {1.0, 2.0, 3.0, 4.0}; }

std::vector<double> paper_t_values() { return {0.0, 0.1, 1.0, -1e-4, -6.0}; }

ZeroVector parse_zero_vector(const std::string& text) {
  ZeroVector x{};
  size_t count = 0;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    TORCH_CHECK(count < x.size(), text, ": expected 4 comma-separated numbers, got more");
    size_t used = 0;
    double v = 0.0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    const auto rest = item.find_first_not_of(" \t", used);
    TORCH_CHECK(used > 0 && rest == std::string::npos, text, ": expected a number, got '", item, "'");
    TORCH_CHECK(std::isfinite(v), text, ": expected finite numbers, got '", item, "'");
    x[count++] = v;
  }
  TORCH_CHECK(count == x.size() && (text.empty() || text.back() != ','), text,
              ": expected 4 comma-separated numbers");
  return x;
}

at::ScalarType parse_demo_dtype(const std::string& name) {
  if (name == "float16") return at::kHalf;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float32") return at::kFloat;
  if (name == "float64") return at::kDouble;
  TORCH_CHECK(false, name, ": expected float16, bfloat16, float32 or float64");
}

std::string power_of_two(double value) {
  if (value == 0.0 || !std::isfinite(value)) return "";
  int exponent = 0;
  const double mantissa = std::frexp(std::fabs(value), &exponent);
  if (mantissa != 0.5) return "";
  return std::string(value < 0 ? "-" : "") + "2^" + std::to_string(exponent - 1);
}

std::string format_zero_table(const ZeroVector& x, const std::vector<double>& ts, at::ScalarType dtype) {
  const int digits = significant_digits(dtype);
  std::ostringstream out;
  std::vector<ZeroPoint> points;
  for (double t : ts) points.push_back(evaluate_zero(x, t, dtype));
  ZeroVector xr = x;
  for (size_t i = 0; i < x.size(); ++i) xr[i] = round_to(x[i], dtype);
  out << "zero(t) = max1(t*x) - max2(t*x) in " << dtype_name(dtype) << ", x = (";
  for (size_t i = 0; i < xr.size(); ++i) out << (i ? ", " : "") << format_number(xr[i], digits);
  out << ")  [x[0] = " << hex_float(xr[0]) << "]\n";
  char line[256];
  std::snprintf(line, sizeof line, "%20s  %8s  %32s  %24s  %10s  %s\n", "t", "zero(t)", "AD zero'(t)", "hex",
                "AD over R", "zone");
  out << line;
  for (const auto& p : points) {
    std::string derivative = format_number(p.derivative, digits);
    const auto pow2 = power_of_two(p.derivative);
    if (!pow2.empty()) derivative += " = " + pow2;
    std::snprintf(line, sizeof line, "%20s  %8s  %32s  %24s  %10s  %s\n", format_number(p.t, digits).c_str(),
                  format_number(p.value, digits).c_str(), derivative.c_str(), hex_float(p.derivative).c_str(),
                  format_number(p.real_derivative, digits).c_str(), to_string(p.zone).c_str());
    out << line;
  }
  return out.str();
}

}  // namespace tiebreak::demo
