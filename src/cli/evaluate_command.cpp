#include "cli/commands.h"

#include "tiebreak/train/evaluate.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

namespace tiebreak::cli {

void add_evaluate_command(CLI::App& app, Action& action) {
  struct Args {
    std::string path;
    std::vector<std::string> sets;
    std::string data_root;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "evaluate", "Test loss, accuracy and tie statistics of a run's checkpoint, without training");
  cmd->add_option("run", args->path, "A run directory (config.json + checkpoint.pt) or a checkpoint.pt")
      ->required();
  cmd->add_option("--set", args->sets,
                  "Override the run's config, e.g. data.test_limit=1000 or exp.device=cpu (repeatable)")
      ->take_all()
      ->expected(1);
  add_data_root_option(cmd, args->data_root);
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  cmd->callback([&action, args] {
    action = [args] {
      append_data_root(args->sets, args->data_root);
      const auto r = train::evaluate_checkpoint(args->path, args->sets, train::default_components());
      if (args->json) {
        nlohmann::json ties = nlohmann::json::object();
        for (const auto& [name, fraction] : r.ties) ties[name] = fraction;
        std::cout << nlohmann::json{{"checkpoint", r.checkpoint.string()},
                                    {"epochs", r.epochs},
                                    {"device", r.device},
                                    {"examples", r.examples},
                                    {"test_loss", r.test_loss},
                                    {"test_accuracy", r.test_accuracy},
                                    {"ties", ties}}
                         .dump(2)
                  << "\n";
        return 0;
      }
      std::cout << fmt::format("{}: after {} epoch{}, on {}\n", r.checkpoint.string(), r.epochs,
                               r.epochs == 1 ? "" : "s", r.device);
      std::cout << fmt::format("test loss {:.4f}  test accuracy {:.2f}% ({} examples)\n", r.test_loss,
                               100 * r.test_accuracy, r.examples);
      for (const auto& [name, fraction] : r.ties)
        std::cout << fmt::format("ties.{}: {:.4f} of the windows tied\n", name, fraction);
      return 0;
    };
  });
}

}  // namespace tiebreak::cli
