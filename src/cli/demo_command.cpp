#include "cli/commands.h"

#include "tiebreak/demo/zero_example.h"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace tiebreak::cli {

namespace {

struct ZeroArgs {
  std::string dtype;  // empty: float32 and float64
  std::string x;      // empty: the paper's two vectors
};

const char* kZoneLegend =
    "zones: bifurcation = AD is wrong over the reals already (an exact tie in t*x, e.g. t = 0);\n"
    "       compensation = AD over the reals gives the true 0, the nonzero value comes from rounding only.\n"
    "max1 = first-maximum loop m = where(y[i] > m, y[i], m) (gradient to the first maximum);\n"
    "max2 = at::max(y) (gradient split evenly among tied maxima).\n";

int run_zero(const ZeroArgs& args) {
  std::vector<at::ScalarType> dtypes;
  if (args.dtype.empty()) {
    dtypes = {at::kFloat, at::kDouble};
  } else {
    dtypes = {for_flag("--dtype", [&] { return demo::parse_demo_dtype(args.dtype); })};
  }
  std::vector<demo::ZeroVector> vectors;
  if (args.x.empty()) {
    vectors = {demo::paper_x_compensation(), demo::paper_x_bifurcation()};
  } else {
    vectors = {for_flag("--x", [&] { return demo::parse_zero_vector(args.x); })};
  }
  // Build every table before printing, so a bad input prints nothing but the error.
  std::string text;
  for (auto dtype : dtypes) {
    for (const auto& x : vectors) text += demo::format_zero_table(x, demo::paper_t_values(), dtype) + "\n";
  }
  std::cout << text << kZoneLegend;
  if (args.x.empty()) {
    std::cout
        << "x1 is the paper's torch.ones(4) * 1.14, i.e. 1.14 rounded to float32; in float64 that value\n"
           "gives 0, while 1.14 rounded to float64 (--x 1.14,1.14,1.14,1.14 --dtype float64) gives 2^-53.\n";
  }
  return 0;
}

}  // namespace

void add_demo_command(CLI::App& app, Action& action) {
  auto* demo = app.add_subcommand("demo", "Small demonstrations of nonsmooth autodiff");
  demo->require_subcommand(1);
  auto* zero = demo->add_subcommand(
      "zero", "The paper's introductory example: zero(t) = max1(t*x) - max2(t*x) is 0, AD's zero'(t) is not");
  auto args = std::make_shared<ZeroArgs>();
  zero->add_option("--dtype", args->dtype,
                   "float32 or float64 (also float16, bfloat16); default: both float32 and "
                   "float64")
      ->check(CLI::IsMember({"float16", "bfloat16", "float32", "float64"}));
  zero->add_option("--x", args->x,
                   "four comma-separated numbers, e.g. 1.14,1.14,1.14,1.14; default: the paper's "
                   "x1 = 1.14*(1,1,1,1) and x2 = (1,2,3,4)");
  zero->callback([&action, args] { action = [args] { return run_zero(*args); }; });
}

}  // namespace tiebreak::cli
