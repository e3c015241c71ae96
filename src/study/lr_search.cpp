#include "tiebreak/study/lr_search.h"

#include "tiebreak/config/config.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/run_lock.h"
#include "tiebreak/data/sampler.h"
#include "tiebreak/train/interrupt.h"
#include "tiebreak/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <optional>

namespace tiebreak::study {

using train::check_runnable;
using train::Components;
using train::EpochMetrics;
using train::Interrupted;
using train::is_complete;
using train::read_run_status;
using train::RunOptions;
using train::RunStatus;
using train::train_run;

namespace fs = std::filesystem;

bool should_prune(const std::vector<std::vector<double>>& history, size_t epoch, double accuracy,
                  size_t startup_trials) {
  std::vector<double> seen;
  for (const auto& trial : history) {
    if (trial.size() > epoch && !std::isnan(trial[epoch])) seen.push_back(trial[epoch]);
  }
  if (seen.empty() || seen.size() < startup_trials) return false;
  std::sort(seen.begin(), seen.end());
  const size_t n = seen.size();
  const double median = n % 2 ? seen[n / 2] : (seen[n / 2 - 1] + seen[n / 2]) / 2;
  return std::isnan(accuracy) || accuracy < median;
}

double sample_learning_rate(uint64_t seed, int64_t trial, double low, double high) {
  TORCH_CHECK(low > 0 && high >= low, "learning-rate range: expected 0 < low <= high, got ", low, ",", high);
  auto generator = data::epoch_generator(seed ^ 0x6c725f736561726bULL, trial);
  const double u = torch::rand({1}, generator, torch::TensorOptions().dtype(torch::kDouble)).item<double>();
  return std::exp(std::log(low) + u * (std::log(high) - std::log(low)));
}

std::vector<LrTrial> run_lr_search(const LrSearchOptions& options, const Components& components) {
  TORCH_CHECK(options.trials >= 1, "lr-search: trials: expected a positive number, got ", options.trials);
  TORCH_CHECK(options.epochs >= 1, "lr-search: epochs per trial: expected a positive number, got ",
              options.epochs);
  auto base_sets = options.overrides;
  base_sets.push_back("train.epochs=" + std::to_string(options.epochs));
  base_sets.push_back("train.runs=1");
  auto base = config::load_config(options.config_path, base_sets);
  std::vector<double> betas = options.betas;
  if (betas.empty()) betas.push_back(base.config.nonsmooth.beta);
  // Validate every β's config before training anything.
  for (double beta : betas) {
    auto sets = base_sets;
    sets.push_back(fmt::format("nonsmooth.beta={}", beta));
    sets.push_back(fmt::format("train.optimizer.lr={}", options.high));
    config::load_config(options.config_path, sets);
  }
  // What the config names (dataset, data files, model on its images) can be built: β and lr change neither.
  check_runnable(base.config, components);
  fs::create_directories(options.out_dir);
  // Trials of an unfinished search are removed and redone: only while no other search writes here.
  const DirectoryLock lock(options.out_dir, "tiebreak lr-search " + options.config_path.string());

  std::vector<LrTrial> all;
  std::string best_csv = "beta,lr,accuracy\n";
  for (double beta : betas) {
    std::vector<std::vector<double>> history;
    std::optional<LrTrial> best;
    for (int64_t t = 0; t < options.trials; ++t) {
      LrTrial trial;
      trial.beta = beta;
      trial.trial = t;
      trial.lr = sample_learning_rate(base.config.train.seed, t, options.low, options.high);
      auto sets = base_sets;
      sets.push_back(fmt::format("nonsmooth.beta={}", beta));
      sets.push_back(fmt::format("train.optimizer.lr={}", trial.lr));
      auto loaded = config::load_config(options.config_path, sets);
      const fs::path dir = options.out_dir / fmt::format("beta={}", beta) / fmt::format("trial-{}", t);
      const fs::path pruned_marker = dir / "pruned";
      std::vector<double> curve;
      auto status = read_run_status(dir);
      bool reuse = status && (is_complete(*status) || fs::exists(pruned_marker));
      if (reuse) {
        auto table = read_csv(dir / "metrics.csv");
        const int acc = table.index("test_accuracy");
        for (const auto& row : table.rows)
          curve.push_back(row[acc] == "nan" ? std::nan("") : std::stod(row[acc]));
        trial.pruned = fs::exists(pruned_marker);
        trial.diverged = status == RunStatus::Diverged;
      } else {
        if (fs::exists(dir)) fs::remove_all(dir);  // an interrupted trial starts over
        RunOptions ro;
        ro.run_dir = dir;
        ro.progress = options.verbose;
        ro.on_epoch = [&](const EpochMetrics& row) {
          curve.push_back(row.test_accuracy);
          if (row.diverged) return true;  // the remaining rows are written at once anyway
          if (should_prune(history, curve.size() - 1, row.test_accuracy, options.startup_trials)) {
            trial.pruned = true;
            return false;
          }
          return true;
        };
        try {
          auto outcome = train_run(loaded, ro, components);
          trial.diverged = outcome.status == RunStatus::Diverged;
          if (trial.pruned) write_text_atomically(pruned_marker, "pruned by the median rule\n");
          curve.clear();
          for (const auto& r : outcome.rows) curve.push_back(r.test_accuracy);
        } catch (const Interrupted&) {
          throw;  // the search stops; re-running redoes this trial and reuses the finished ones
        } catch (const std::exception& e) {
          // One trial's failure (its learning rate overflowed a step, ...) is that
          // trial's result; train_run recorded it in the trial's run.json.
          std::string what = e.what();
          if (auto* c10 = dynamic_cast<const c10::Error*>(&e)) what = c10->what_without_backtrace();
          trial.failed = true;
          trial.error = what.substr(0, what.find('\n'));
          trial.pruned = false;
          curve.clear();
        }
      }
      trial.epochs_done = static_cast<int64_t>(curve.size());
      trial.accuracy = curve.empty() ? std::nan("") : curve.back();
      history.push_back(curve);
      if (!trial.pruned && !std::isnan(trial.accuracy) && (!best || trial.accuracy > best->accuracy))
        best = trial;
      if (options.verbose) {
        const std::string note = trial.failed   ? " (failed: " + trial.error + ")"
                                 : trial.pruned ? fmt::format(" (pruned after epoch {})", trial.epochs_done)
                                                : std::string();
        std::fprintf(stderr, "lr-search beta=%g trial %lld: lr %.3g -> test accuracy %.4f%s\n", beta,
                     static_cast<long long>(t), trial.lr, trial.accuracy, note.c_str());
      }
      all.push_back(trial);
      std::string trials_csv = "beta,trial,lr,accuracy,epochs,pruned,diverged,failed\n";
      for (const auto& x : all) {
        trials_csv += fmt::format("{},{},{},{},{},{},{},{}\n", x.beta, x.trial, x.lr, x.accuracy,
                                  x.epochs_done, x.pruned ? 1 : 0, x.diverged ? 1 : 0, x.failed ? 1 : 0);
      }
      write_text_atomically(options.out_dir / "trials.csv", trials_csv);
    }
    if (best) best_csv += fmt::format("{},{},{}\n", beta, best->lr, best->accuracy);
    write_text_atomically(options.out_dir / "best_lr.csv", best_csv);
  }
  // A search in which every trial of a β failed has no answer for it: an error, after the CSVs are written.
  for (double beta : betas) {
    const LrTrial* first_failure = nullptr;
    bool any_ok = false;
    for (const auto& x : all) {
      if (x.beta != beta) continue;
      if (x.failed && !first_failure) first_failure = &x;
      any_ok = any_ok || !x.failed;
    }
    TORCH_CHECK(any_ok || !first_failure, "lr-search: every trial for beta=", beta, " failed (see ",
                (options.out_dir / "trials.csv").string(), "); the first: ", first_failure->error);
  }
  return all;
}

}  // namespace tiebreak::study
