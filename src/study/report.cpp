#include "tiebreak/study/report.h"

#include "tiebreak/config/config.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/process.h"
#include "tiebreak/study/compare.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

namespace tiebreak::study {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
/// Two accuracies without spread agree when they are this close (half a test image in 1000).
constexpr double kExactTolerance = 5e-4;

/// What a run computes: seeds, run counts, where and how it executes and the zones settings aside.
json group_identity(json config) {
  config.erase("exp");
  config.erase("sweep");
  config.erase("zones");
  for (const char* k : {"seed", "seeding", "runs", "stop_after_epoch"}) config["train"].erase(k);
  for (const char* k : {"root", "num_workers"}) config["data"].erase(k);
  return config;
}

void mean_std(const std::vector<double>& v, double& mean, double& sd) {
  mean = sd = 0;
  if (v.empty()) return;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  if (v.size() < 2) return;
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  // Equal accuracies (all diverged runs at the class-0 share) have no spread; rounding in the mean must not
  // invent one for the tests to divide by.
  if (sd < 1e-12) sd = 0;
}

double two_sided_t(double t, double df) {
  boost::math::students_t dist(df);
  return 2 * boost::math::cdf(boost::math::complement(dist, std::abs(t)));
}

double two_sided_normal(double z) {
  boost::math::normal dist;
  return 2 * boost::math::cdf(boost::math::complement(dist, std::abs(z)));
}

/// Fills the test fields of `c` from tiebreak's values at the epoch and the study's mean/std/runs.
void test_epoch(EpochComparison& c, double alpha) {
  const double n_t = static_cast<double>(c.runs), n_s = static_cast<double>(c.study_runs);
  const double diff = c.mean - c.study_mean;
  const bool study_spread_known = !std::isnan(c.study_std);
  auto exact = [&] {
    c.test = "exact";
    c.statistic = c.p_value = kNaN;
    c.verdict = std::abs(diff) <= kExactTolerance ? "agrees" : "differs";
  };
  auto one_sample = [&] {
    c.test = "t1";
    c.statistic = diff / (c.std / std::sqrt(n_t));
    c.p_value = two_sided_t(c.statistic, n_t - 1);
  };
  if (study_spread_known && c.runs >= 2 && c.study_runs >= 2) {
    const double vt = c.std * c.std / n_t, vs = c.study_std * c.study_std / n_s;
    if (vt + vs == 0) {
      exact();
      return;
    }
    c.test = "welch";
    c.statistic = diff / std::sqrt(vt + vs);
    const double df =
        (vt + vs) * (vt + vs) / ((vt > 0 ? vt * vt / (n_t - 1) : 0.0) + (vs > 0 ? vs * vs / (n_s - 1) : 0.0));
    c.p_value = two_sided_t(c.statistic, df);
  } else if (study_spread_known && c.runs == 1 && c.study_std > 0) {
    c.test = "z";
    c.statistic = diff / c.study_std;
    c.p_value = two_sided_normal(c.statistic);
  } else if (c.runs >= 2 && c.std > 0) {
    one_sample();  // the study's side has no spread (one run, or none published)
  } else if (study_spread_known && c.study_runs >= 2 && c.study_std == 0) {
    exact();  // no spread on the study's side: all its runs at one value (diverged)
    return;
  } else if (std::abs(diff) <= kExactTolerance) {
    exact();
    return;
  } else {
    c.test = "none";
    c.statistic = c.p_value = kNaN;
    c.verdict = "inconclusive";
    c.note = "no spread on either side to test against";
    return;
  }
  c.verdict = c.p_value >= alpha ? "agrees" : "differs";
}

std::string percent(double v) { return std::isnan(v) ? "nan" : fmt::format("{:.2f}", 100 * v); }

std::string mean_pm(double mean, double sd, int64_t runs) {
  if (runs == 0) return "—";
  if (std::isnan(sd) || runs < 2) return percent(mean);
  return fmt::format("{} ± {}", percent(mean), percent(sd));
}

std::string test_cell(const EpochComparison& c) {
  if (c.test == "welch" || c.test == "t1")
    return fmt::format("{} p={:.2g}", c.test == "welch" ? "Welch" : "t", c.p_value);
  if (c.test == "z") return fmt::format("z={:.2f}", c.statistic);
  if (c.test == "exact") return "exact";
  return "—";
}

std::string beta_text(double beta) { return fmt::format("{:g}", beta); }

std::string slug(const StudyKey& k) {
  return fmt::format("{}_{}_{}_{}_{}bits", k.dataset, k.model, k.batch_norm ? "bn" : "nobn", k.optimizer,
                     k.bits);
}

std::string csv_cell(const std::string& v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

std::string number_cell(double v) { return std::isnan(v) ? "nan" : fmt::format("{}", v); }

std::string key_cells(const StudyKey& k) {
  return fmt::format("{},{},{},{},{},{}", k.dataset, k.model, k.batch_norm ? "true" : "false", k.optimizer,
                     k.bits, k.beta);
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

}  // namespace

Report build_report(const ReportOptions& options, const StudyReference& reference) {
  TORCH_CHECK(!options.roots.empty(), "report: expected at least one run or sweep directory");
  TORCH_CHECK(options.alpha > 0 && options.alpha < 1, "report: --alpha: expected a number in (0, 1), got ",
              options.alpha);
  for (const auto& root : options.roots) {
    TORCH_CHECK(fs::is_directory(root), root.string(), ": not a directory");
  }
  const auto runs = study::collect_runs(options.roots);
  std::string roots;
  for (const auto& r : options.roots) roots += (roots.empty() ? "" : ", ") + r.string();
  TORCH_CHECK(
      !runs.empty(), roots,
      ": no tiebreak runs below it (a run directory holds metrics.csv and config.json, as `tiebreak train` "
      "and `tiebreak sweep` write them)");

  Report report;
  report.reference_source = reference.source();
  report.alpha = options.alpha;

  struct Group {
    config::ExperimentConfig config;
    std::vector<const study::RunRecord*> runs;
    std::set<std::string> seeding;
  };
  std::map<std::string, Group> groups;  // by identity text, so the order is stable
  for (const auto& run : runs) {
    config::LoadedConfig loaded;
    try {
      loaded = config::config_from_json(run.config, (run.dir / "config.json").string());
    } catch (const std::exception& e) {
      std::string what = e.what();
      report.uncompared.push_back({run.dir.string(), "config.json is not a valid tiebreak config: " +
                                                         what.substr(0, what.find('\n'))});
      continue;
    }
    if (run.status == "interrupted") {
      report.interrupted.push_back(
          {run.dir.string(), fmt::format("interrupted after {} of {} epochs; `tiebreak train ... --resume` "
                                         "(or re-running its sweep) continues it",
                                         run.test_accuracies.size(), loaded.config.train.epochs)});
    }
    if (run.test_accuracies.empty()) {
      report.uncompared.push_back({run.dir.string(), "no epoch finished yet (metrics.csv has no rows)"});
      continue;
    }
    auto& g = groups[group_identity(loaded.json).dump()];
    g.config = loaded.config;
    g.runs.push_back(&run);
    g.seeding.insert(loaded.config.train.seeding);
  }

  for (auto& [identity, g] : groups) {
    const auto key_or = study_key(g.config);
    std::string dirs;
    for (const auto* r : g.runs) dirs += (dirs.empty() ? "" : ", ") + r->dir.string();
    const std::string what = fmt::format("{} run{} ({})", g.runs.size(), g.runs.size() == 1 ? "" : "s", dirs);
    if (!key_or.key) {
      report.uncompared.push_back({what, key_or.reason});
      continue;
    }
    const auto& key = *key_or.key;
    const auto study = reference.result(key);
    if (!study) {
      report.uncompared.push_back({what, fmt::format("the study published no result for {} β={}",
                                                     key.configuration(), beta_text(key.beta))});
      continue;
    }
    ReportRow row;
    row.key = key;
    row.study = *study;
    row.seeding = join(std::vector<std::string>(g.seeding.begin(), g.seeding.end()), ", ");
    row.epochs_planned = g.config.train.epochs;
    row.epochs_done = std::numeric_limits<int64_t>::max();
    int64_t longest = 0;
    for (const auto* r : g.runs) {
      row.runs.push_back(r->dir);
      row.epochs_done = std::min<int64_t>(row.epochs_done, static_cast<int64_t>(r->test_accuracies.size()));
      longest = std::max<int64_t>(longest, static_cast<int64_t>(r->test_accuracies.size()));
    }
    for (int64_t e = 0; e < longest; ++e) {
      std::vector<double> v;
      for (const auto* r : g.runs)
        if (e < static_cast<int64_t>(r->test_accuracies.size())) v.push_back(r->test_accuracies[e]);
      double m = 0, sd = 0;
      mean_std(v, m, sd);
      row.curve_mean.push_back(m);
      row.curve_std.push_back(v.size() < 2 ? kNaN : sd);
      row.curve_runs.push_back(static_cast<int64_t>(v.size()));
    }
    row.departures = departures(g.config, key, reference);
    const auto class0 = class0_share(key.dataset);

    struct Point {
      std::string label;
      int64_t epoch;
      double mean, std;
    };
    const std::vector<Point> points{{"epoch 0", 0, study->epoch0_mean, study->epoch0_std},
                                    {"epoch 1", 1, study->epoch1_mean, kNaN},
                                    {"final", study->epochs - 1, study->final_mean, study->final_std}};
    std::vector<std::string> differs, agrees, inconclusive;
    for (const auto& p : points) {
      EpochComparison c;
      c.label = p.label;
      c.epoch = p.epoch;
      c.study_runs = study->runs;
      c.study_mean = p.mean;
      c.study_std = study->runs < 2 ? 0.0 : p.std;
      if (class0) c.study_diverged = estimated_diverged_runs(p.mean, c.study_std, study->runs, *class0);
      std::vector<double> values;
      for (const auto* r : g.runs) {
        if (p.epoch < static_cast<int64_t>(r->test_accuracies.size())) {
          values.push_back(r->test_accuracies[p.epoch]);
          if (r->diverged_rows[p.epoch]) ++c.diverged;
        }
      }
      c.runs = static_cast<int64_t>(values.size());
      mean_std(values, c.mean, c.std);
      if (c.runs == 0) {
        c.verdict = "not comparable";
        c.note = fmt::format("not reached: {} of {} epochs done", longest, study->epochs);
        c.test = "none";
        c.statistic = c.p_value = kNaN;
        if (p.label == "final" || p.epoch >= longest)
          report.uncompared.push_back(
              {fmt::format("{} β={} at the {}", key.configuration(), beta_text(key.beta),
                           p.label == "final" ? fmt::format("final epoch ({})", p.epoch) : p.label),
               c.note});
        row.epochs.push_back(c);
        continue;
      }
      test_epoch(c, options.alpha);
      // Epoch 0 trains at the schedule's first rate whatever its length. Epoch 1's cosine rate lr·(1 +
      // cos(π/T))/2 is within 1 % of the study's when T is long enough (T ≥ 50 against 100 or 200); the final
      // epoch needs the study's whole schedule.
      const auto cosine = [](int64_t e, int64_t t) {
        return (1 + std::cos(M_PI * static_cast<double>(e) / t)) / 2;
      };
      const bool cosine_schedule = g.config.train.schedule.name == config::ScheduleKind::Cosine;
      const bool same_schedule =
          p.label == "final"
              ? g.config.train.epochs == study->epochs
              : !cosine_schedule ||
                    std::abs(cosine(p.epoch, g.config.train.epochs) / cosine(p.epoch, study->epochs) - 1) <=
                        0.01;
      if (p.epoch > 0 && !same_schedule) {
        c.note = fmt::format(
            "schedule over {} epochs, the study's over {} (set train.epochs={} and stop early "
            "with train.stop_after_epoch)",
            g.config.train.epochs, study->epochs, study->epochs);
        c.verdict = "not comparable";
        report.uncompared.push_back(
            {fmt::format("{} β={} at {}", key.configuration(), beta_text(key.beta), p.label), c.note});
      } else if (!row.departures.empty()) {
        c.verdict = "not comparable";
      }
      if (c.verdict == "differs") differs.push_back(p.label);
      if (c.verdict == "agrees") agrees.push_back(p.label);
      if (c.verdict == "inconclusive") inconclusive.push_back(p.label);
      row.epochs.push_back(c);
    }
    if (!row.departures.empty()) {
      row.verdict = "not comparable: " + join(row.departures, "; ");
      report.uncompared.push_back(
          {fmt::format("{} β={}", key.configuration(), beta_text(key.beta)), join(row.departures, "; ")});
    } else if (!differs.empty()) {
      row.verdict = "differs (" + join(differs, ", ") + ")";
    } else if (!agrees.empty()) {
      row.verdict = "agrees (" + join(agrees, ", ") + ")";
      if (!inconclusive.empty()) row.verdict += "; inconclusive at " + join(inconclusive, ", ");
    } else if (!inconclusive.empty()) {
      row.verdict = "inconclusive (" + join(inconclusive, ", ") + ")";
    } else {
      row.verdict = "not comparable";
    }
    report.rows.push_back(std::move(row));
  }
  std::sort(report.rows.begin(), report.rows.end(),
            [](const ReportRow& a, const ReportRow& b) { return a.key < b.key; });
  return report;
}

std::string Report::markdown(const std::vector<std::string>& plot_files) const {
  std::string out = "# Reproduction report\n\n";
  out += fmt::format(
      "Reference: {}. Test accuracy in %, mean ± std over runs (the study's std is over its runs; it "
      "published "
      "none after epoch 1). Epochs are numbered from 0 as in the study; \"final\" is its last epoch.\n\n",
      reference_source);
  out += fmt::format(
      "Tests (α = {}): Welch's t when both sides have ≥ 2 runs; a one-sample t of tiebreak's runs against "
      "the "
      "study's mean where the study has no spread (epoch 1, single runs); z = Δ / study std with one "
      "tiebreak run; "
      "\"exact\" where neither side has spread (equal within {:.2f} points). \"diverged\": tiebreak's runs "
      "whose "
      "loss or weights were non-finite at that epoch / the study's, estimated from its mean and std (a "
      "diverged "
      "run scores the share of class 0). A configuration that departs from the study's setup is not "
      "comparable; "
      "its numbers are shown all the same.\n\n",
      alpha, 100 * kExactTolerance);
  std::set<std::string> seedings;
  for (const auto& r : rows) seedings.insert(r.seeding);
  if (seedings.count("paired") || seedings.count("independent"))
    out +=
        "Seeds: with train.seeding \"paired\" (the default) run k of every β starts from the same weights "
        "and "
        "sees the same batches (seed train.seed + k), so the β columns are paired samples; the study's runs "
        "were "
        "independent (train.seeding \"independent\" draws a seed per configuration). The tests here treat "
        "the "
        "sides as independent samples either way.\n\n";

  std::map<std::string, std::vector<const ReportRow*>> by_configuration;
  std::vector<std::string> order;
  for (const auto& r : rows) {
    const auto c = r.key.configuration();
    if (!by_configuration.count(c)) order.push_back(c);
    by_configuration[c].push_back(&r);
  }
  for (const auto& configuration : order) {
    const auto& members = by_configuration[configuration];
    out += fmt::format("## {}\n\n", configuration);
    out +=
        "| β | runs | epochs done | epoch 0 | study | test | epoch 1 | study | test | final | study | test | "
        "diverged (tiebreak vs study) | verdict |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto* r : members) {
      std::string line = fmt::format("| {} | {} / {} | {} / {} |", beta_text(r->key.beta), r->runs.size(),
                                     r->study.runs, r->epochs_done, r->study.epochs);
      std::string diverged;
      for (const auto& c : r->epochs) {
        if (c.runs == 0) {
          line += fmt::format(" — | {} | not reached |", mean_pm(c.study_mean, c.study_std, c.study_runs));
        } else {
          line += fmt::format(" {} | {} | {} |", mean_pm(c.mean, c.std, c.runs),
                              mean_pm(c.study_mean, c.study_std, c.study_runs), test_cell(c));
        }
        if (c.label != "epoch 1") {
          const std::string ours = c.runs == 0 ? std::string("—") : fmt::format("{}/{}", c.diverged, c.runs);
          const std::string theirs =
              c.study_diverged ? fmt::format("{}/{}", *c.study_diverged, c.study_runs) : std::string("?");
          diverged += fmt::format("{}{}: {} vs {}", diverged.empty() ? "" : "; ",
                                  c.label == "final" ? "final" : "e0", ours, theirs);
        }
      }
      line += fmt::format(" {} | {} |\n", diverged, r->verdict);
      out += line;
    }
    const std::string plot = fmt::format("plots/{}.png", slug(members.front()->key));
    if (std::find(plot_files.begin(), plot_files.end(), plot) != plot_files.end())
      out += fmt::format("\n![{}]({})\n", configuration, plot);
    out += "\n";
  }
  if (!interrupted.empty()) {
    out += "## Interrupted runs\n\n";
    for (const auto& u : interrupted) out += fmt::format("- {}: {}\n", u.what, u.reason);
    out += "\n";
  }
  out += "## What could not be compared\n\n";
  if (uncompared.empty()) out += "Everything found was compared.\n";
  for (const auto& u : uncompared) out += fmt::format("- {}: {}\n", u.what, u.reason);
  return out;
}

std::string Report::csv() const {
  std::string out =
      "dataset,model,batch_norm,optimizer,bits,beta,compared,epoch,runs,mean,std,diverged,study_runs,study_"
      "mean,"
      "study_std,study_diverged,test,statistic,p_value,verdict,row_verdict,note\n";
  for (const auto& r : rows) {
    for (const auto& c : r.epochs) {
      out += fmt::format(
          "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", key_cells(r.key), c.label, c.epoch, c.runs,
          c.runs ? number_cell(c.mean) : "nan", c.runs > 1 ? number_cell(c.std) : "nan", c.diverged,
          c.study_runs, number_cell(c.study_mean), number_cell(c.study_std),
          c.study_diverged ? std::to_string(*c.study_diverged) : "", c.test, number_cell(c.statistic),
          number_cell(c.p_value), c.verdict, csv_cell(r.verdict), csv_cell(c.note));
    }
  }
  return out;
}

std::string Report::curves_csv() const {
  std::string out = "dataset,model,batch_norm,optimizer,bits,beta,source,epoch,runs,mean,std\n";
  for (const auto& r : rows) {
    for (size_t e = 0; e < r.curve_mean.size(); ++e)
      out += fmt::format("{},tiebreak,{},{},{},{}\n", key_cells(r.key), e, r.curve_runs[e],
                         number_cell(r.curve_mean[e]), number_cell(r.curve_std[e]));
    const auto& s = r.study;
    out += fmt::format("{},study,0,{},{},{}\n", key_cells(r.key), s.runs, number_cell(s.epoch0_mean),
                       number_cell(s.runs < 2 ? kNaN : s.epoch0_std));
    out += fmt::format("{},study,1,{},{},nan\n", key_cells(r.key), s.runs, number_cell(s.epoch1_mean));
    out += fmt::format("{},study,{},{},{},{}\n", key_cells(r.key), s.epochs - 1, s.runs,
                       number_cell(s.final_mean), number_cell(s.runs < 2 ? kNaN : s.final_std));
  }
  return out;
}

void write_report(const Report& report, const fs::path& out, const std::vector<std::string>& plot_files) {
  fs::create_directories(out);
  tiebreak::write_text_atomically(out / "report.csv", report.csv());
  tiebreak::write_text_atomically(out / "curves.csv", report.curves_csv());
  tiebreak::write_text_atomically(out / "report.md", report.markdown(plot_files));
}

std::vector<std::string> draw_report_plots(const fs::path& out, const std::string& python,
                                           const fs::path& script) {
  TORCH_CHECK(fs::exists(script), "plots: ", script.string(),
              " not found (pass --no-plots to skip the plots)");
  SpawnOptions plot;
  plot.argv = {python, script.string(), out.string()};
  pid_t pid = 0;
  try {
    pid = spawn_process(plot);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    TORCH_CHECK(false, "plots: ", what.substr(0, what.find('\n')),
                "; set TIEBREAK_PYTHON to a Python with matplotlib or pass --no-plots");
  }
  const int status = wait_process(pid);
  TORCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "plots: ", python, " ", script.string(), " ",
              out.string(), " failed (", describe_exit(status), "); the report without plots is in ",
              (out / "report.md").string(), ", --no-plots skips them");
  std::vector<std::string> files;
  if (!fs::is_directory(out / "plots")) return files;
  for (const auto& entry : fs::directory_iterator(out / "plots")) {
    if (entry.path().extension() == ".png") files.push_back("plots/" + entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace tiebreak::study
