#include "cli/commands.h"

#include "tiebreak/core/python.h"
#include "tiebreak/study/report.h"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>

namespace tiebreak::cli {

void add_report_command(CLI::App& app, Action& action) {
  struct Args {
    std::vector<std::string> roots;
    std::string reference = "study";
    std::string learning_rates;
    std::string out;
    double alpha = 0.05;
    bool no_plots = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("report", "Compare runs with the study's published results (Markdown, CSV, plots)");
  cmd->add_option("dirs", args->roots, "Run or sweep directories")->required();
  cmd->add_option(
         "--reference", args->reference,
         "\"study\" (the study's numbers, reference/study/, built in) or a results CSV with its columns")
      ->capture_default_str();
  cmd->add_option("--learning-rates", args->learning_rates,
                  "With a --reference CSV: the learning-rate table to check runs against (columns of "
                  "reference/study/learning_rates.csv)");
  cmd->add_option("--out", args->out, "Output directory (default: the first directory's report/)");
  cmd->add_option("--alpha", args->alpha, "Significance level of the tests")->capture_default_str();
  cmd->add_flag("--no-plots", args->no_plots,
                "Skip the per-configuration plots (they need Python with matplotlib)");
  cmd->callback([&action, args] {
    action = [args] {
      study::ReportOptions options;
      for (const auto& r : args->roots) options.roots.emplace_back(r);
      options.alpha = args->alpha;
      const auto reference =
          args->reference == "study"
              ? study::StudyReference::builtin()
              : study::StudyReference::from_csv(
                    args->reference, args->learning_rates.empty()
                                         ? std::nullopt
                                         : std::optional<std::filesystem::path>(args->learning_rates));
      const auto report = study::build_report(options, reference);
      const std::filesystem::path out = args->out.empty()
                                            ? std::filesystem::path(args->roots.front()) / "report"
                                            : std::filesystem::path(args->out);
      study::write_report(report, out);
      if (!args->no_plots) {
        std::vector<std::string> plots;
        try {
          plots = study::draw_report_plots(out, project_python(), project_script("plot_report.py"));
        } catch (const c10::Error& e) {
          const std::string what = e.what_without_backtrace();
          throw std::runtime_error(what.substr(0, what.find('\n')) + " (--no-plots skips the plots)");
        }
        study::write_report(report, out, plots);
      }
      std::cout << fmt::format("{} configurations compared, {} items not compared; wrote {}\n",
                               report.rows.size(), report.uncompared.size(), (out / "report.md").string());
      return 0;
    };
  });
}

}  // namespace tiebreak::cli
