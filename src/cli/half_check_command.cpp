#include "cli/commands.h"

#include "tiebreak/config/config.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/train/half_check.h"

#include <fmt/format.h>

#include <iostream>

namespace tiebreak::cli {

void add_half_check_command(CLI::App& app, Action& action) {
  struct Args {
    std::string config;
    std::vector<std::string> sets;
    int64_t batches = 1;
    std::string json;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "half-check",
      "Compare train.half_compute=fp32_accumulate with LibTorch's own 16-bit CPU kernels on a config's model "
      "and data: every convolution/linear/batch_norm result, the pooling layers' ties, the gradients");
  cmd->add_option("config", args->config, "Experiment config (JSON) with train.precision fp16 or bf16")
      ->required();
  cmd->add_option("--set", args->sets,
                  "Override a config value: key=value (dotted key; value parsed as JSON)")
      ->take_all()
      ->expected(1);
  cmd->add_option("--batches", args->batches, "Training batches of epoch 0 to compare on")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--json", args->json, "Also write the report as JSON to this file");
  cmd->callback([&action, args] {
    action = [args] {
      auto loaded = config::load_config(args->config, args->sets);
      train::HalfCheckOptions options;
      options.batches = args->batches;
      const auto report = train::check_half_compute(loaded.config, train::default_components(), options);
      std::cout << train::format_half_check(report);
      if (!args->json.empty()) {
        tiebreak::write_text_atomically(args->json, train::to_json(report).dump(2) + "\n");
        std::cout << fmt::format("wrote {}\n", args->json);
      }
      return 0;
    };
  });
}

}  // namespace tiebreak::cli
