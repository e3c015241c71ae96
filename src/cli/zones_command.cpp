#include "cli/commands.h"

#include "tiebreak/config/config.h"
#include "tiebreak/train/trainer.h"
#include "tiebreak/zones/zones.h"

#include <fmt/format.h>

#include <iostream>
#include <sstream>

namespace tiebreak::cli {

void add_zones_command(CLI::App& app, Action& action) {
  struct Args {
    std::string config;
    std::string pair;
    std::string precisions = "fp16,fp32,fp64";
    int64_t epochs = 1;
    bool train = false;
    std::string thresholds;
    std::string out;
    std::vector<std::string> sets;
    bool nondeterministic = false;
    int64_t batch_limit = 0;
    bool no_classify = false;
    std::string data_root;
    bool no_tensorboard = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "zones", "Measure bifurcation/compensation zones: two networks that differ only in a Jacobian choice");
  cmd->add_option("config", args->config, "Experiment config (JSON)")->required();
  cmd->add_option("--pair", args->pair,
                  "The compared choice: a nonsmooth key and two values, e.g. nonsmooth.beta=0,1")
      ->required();
  cmd->add_option("--precision", args->precisions,
                  "Comma-separated precisions (fp16, fp32, fp64, bf16, amp_fp16, amp_bf16)")
      ->capture_default_str();
  cmd->add_option("--epochs", args->epochs, "Passes over the training set")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_flag(
      "--train", args->train,
      "Train both networks side by side with the config's learning rate (default: learning rate 0)");
  cmd->add_option(
      "--threshold", args->thresholds,
      "Per-precision thresholds on D, e.g. fp16=1e-3,fp32=1e-7,fp64=1e-15 (those are the defaults)");
  cmd->add_option("--out", args->out, "Output directory (default: exp.output_dir/<config name>-zones)");
  cmd->add_option("--set", args->sets,
                  "Override a config value: key=value (dotted key; value parsed as JSON)")
      ->take_all()
      ->expected(1);
  cmd->add_flag("--nondeterministic", args->nondeterministic,
                "Allow nondeterministic GPU kernels (measures the noise floor)");
  cmd->add_option("--batch-limit", args->batch_limit, "Only the first N mini-batches of each epoch (0 = all)")
      ->check(non_negative_integer());
  cmd->add_flag("--no-classify", args->no_classify,
                "Skip the fp64 recomputation that splits D > 0 into bifurcation and compensation");
  add_data_root_option(cmd, args->data_root);
  add_no_tensorboard_flag(cmd, args->no_tensorboard);
  cmd->callback([&action, args] {
    action = [args] {
      append_data_root(args->sets, args->data_root);
      apply_no_tensorboard(args->no_tensorboard);
      auto loaded = config::load_config(args->config, args->sets);
      zones::ZonesOptions options;
      options.pair = for_flag("--pair", [&] { return zones::PairSpec::parse(args->pair); });
      options.precisions.clear();
      std::istringstream list(args->precisions);
      for (std::string name; std::getline(list, name, ',');)
        options.precisions.push_back(core::parse_enum<config::Precision>(name, "--precision"));
      options.epochs = args->epochs;
      options.train = args->train;
      if (!args->thresholds.empty())
        options.thresholds =
            for_flag("--threshold", [&] { return zones::parse_thresholds(args->thresholds); });
      options.nondeterministic = args->nondeterministic;
      options.batch_limit = args->batch_limit;
      options.classify = !args->no_classify;
      if (args->out.empty()) {
        auto dir = train::default_experiment_dir(loaded);
        options.out = dir.parent_path() / (dir.filename().string() + "-zones");
      } else {
        options.out = args->out;
      }
      auto result = zones::run_zones(loaded, options, train::default_components(), &std::cerr);
      export_tensorboard(options.out);
      std::cout << result.table();
      std::cout << fmt::format("wrote {}\n", (options.out / "zones.json").string());
      return 0;
    };
  });
}

}  // namespace tiebreak::cli
