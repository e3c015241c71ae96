#include "tiebreak/study/compare.h"

#include "tiebreak/core/csv.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/train/metrics.h"
#include "tiebreak/zones/statistics.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace tiebreak::study {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void flatten(const json& node, const std::string& path, std::map<std::string, std::string>& out) {
  if (node.is_object()) {
    for (const auto& [k, v] : node.items()) flatten(v, path.empty() ? k : path + "." + k, out);
  } else {
    out[path] = node.is_string() ? node.get<std::string>() : node.dump();
  }
}

bool ignored_key(const std::string& key) {
  return key.rfind("exp.", 0) == 0 || key.rfind("sweep.", 0) == 0 || key.rfind("zones.", 0) == 0 ||
         key == "train.seed" || key == "train.seeding" || key == "train.runs" ||
         key == "train.stop_after_epoch" || key.rfind("train.zone_probe.", 0) == 0;
}

/// Numbers sort numerically, everything else as text.
bool value_less(const std::string& a, const std::string& b) {
  char* ea = nullptr;
  char* eb = nullptr;
  double da = std::strtod(a.c_str(), &ea), db = std::strtod(b.c_str(), &eb);
  bool na = !a.empty() && *ea == '\0', nb = !b.empty() && *eb == '\0';
  if (na && nb) return da < db;
  if (na != nb) return na;
  return a < b;
}

double parse_field(const std::string& s, const fs::path& file) {
  if (s == "nan") return std::nan("");
  try {
    return std::stod(s);
  } catch (const std::exception&) {
    TORCH_CHECK(false, file.string(), ": expected a number, got '", s, "'");
  }
}

void mean_std(const std::vector<double>& v, double& mean, double& sd) {
  mean = 0;
  // A sample standard deviation needs two runs: one run has none (NaN), not a spread of 0.
  sd = std::numeric_limits<double>::quiet_NaN();
  if (v.empty()) return;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  if (v.size() < 2) return;
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
}

/// "85.10 ± 0.21" in percent; one run has no spread: "85.10 ±    -"; no run: "-".
std::string mean_and_spread(int64_t runs, double mean, double sd) {
  if (runs == 0) return "-";
  if (!std::isfinite(sd)) return fmt::format("{:.2f} ± {:>4}", 100 * mean, "-");
  return fmt::format("{:.2f} ± {:.2f}", 100 * mean, 100 * sd);
}

}  // namespace

std::vector<RunRecord> collect_runs(const std::vector<fs::path>& roots) {
  std::vector<fs::path> dirs;
  for (const auto& root : roots) {
    TORCH_CHECK(fs::is_directory(root), root.string(), ": not a directory");
    if (fs::exists(root / "metrics.csv")) dirs.push_back(root);
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (e.is_regular_file() && e.path().filename() == "metrics.csv" && e.path().parent_path() != root) {
        dirs.push_back(e.path().parent_path());
      }
    }
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  std::vector<RunRecord> runs;
  for (const auto& dir : dirs) {
    RunRecord r;
    r.dir = dir;
    TORCH_CHECK(fs::exists(dir / "config.json"), (dir / "config.json").string(),
                ": missing (every run directory holds its resolved config)");
    try {
      r.config = json::parse(read_text(dir / "config.json"));
    } catch (const json::exception& e) {
      TORCH_CHECK(false, (dir / "config.json").string(), ": invalid JSON (", e.what(), ")");
    }
    r.status = "unknown";
    if (fs::exists(dir / "run.json")) {
      try {
        r.status = json::parse(read_text(dir / "run.json")).value("status", "unknown");
      } catch (const json::exception&) {
      }
    }
    auto table = read_csv(dir / "metrics.csv");
    const int acc = table.index("test_accuracy"), div = table.index("diverged");
    TORCH_CHECK(acc >= 0, (dir / "metrics.csv").string(), ": no test_accuracy column");
    r.epochs = static_cast<int64_t>(table.rows.size());
    for (const auto& row : table.rows) {
      double a = parse_field(row[acc], dir / "metrics.csv");
      if (!std::isnan(a)) r.best_test_accuracy = std::max(r.best_test_accuracy, a);
      r.final_test_accuracy = a;
      r.test_accuracies.push_back(a);
      r.diverged_rows.push_back(div >= 0 && row[div] == "1");
    }
    const int probes = table.index("zone_probes"), non_finite = table.index("zone_non_finite"),
              above = table.index("zone_above_threshold");
    if (probes >= 0 && non_finite >= 0 && above >= 0) {
      r.zone_probes = 0;
      for (const auto& row : table.rows) {
        if (row[probes].empty()) continue;  // a filled epoch: nothing probed
        r.zone_probes += static_cast<int64_t>(parse_field(row[probes], dir / "metrics.csv") -
                                              parse_field(row[non_finite], dir / "metrics.csv"));
        r.zone_above_threshold += static_cast<int64_t>(parse_field(row[above], dir / "metrics.csv"));
      }
    }
    // Diverged = ended non-finite: a mixed-precision run that recovered from a non-finite epoch did not.
    if (div >= 0 && !table.rows.empty() && table.rows.back()[div] == "1") r.diverged = true;
    if (r.status == "diverged") r.diverged = true;
    runs.push_back(std::move(r));
  }
  return runs;
}

Comparison compare_runs(const std::vector<RunRecord>& runs) {
  std::vector<std::map<std::string, std::string>> flat(runs.size());
  std::map<std::string, std::set<std::string>> values;
  for (size_t i = 0; i < runs.size(); ++i) {
    flatten(runs[i].config, "", flat[i]);
    for (const auto& [k, v] : flat[i])
      if (!ignored_key(k)) values[k].insert(v);
  }
  // Keys present in only some configs vary too.
  for (auto& [k, set] : values) {
    for (const auto& f : flat)
      if (!f.count(k)) set.insert("");
  }
  std::vector<std::string> keys{"train.precision"};
  for (const auto& [k, set] : values) {
    if (set.size() > 1 && k != "train.precision" && k != "nonsmooth.beta") keys.push_back(k);
  }
  keys.push_back("nonsmooth.beta");

  Comparison out;
  std::map<std::string, int> last_names;
  for (const auto& k : keys) last_names[k.substr(k.rfind('.') + 1)]++;
  for (const auto& k : keys) {
    std::string last = k.substr(k.rfind('.') + 1);
    out.columns.push_back(last_names[last] > 1 ? k : last);
  }

  std::map<std::vector<std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::vector<std::string> key;
    for (const auto& k : keys) key.push_back(flat[i].count(k) ? flat[i][k] : "");
    groups[key].push_back(i);
  }
  for (const auto& [key, members] : groups) {
    CompareGroup g;
    g.key = key;
    std::vector<double> finals, bests;
    for (size_t i : members) {
      const auto& r = runs[i];
      if (r.status != "finished" && r.status != "diverged") {
        ++g.incomplete;
        if (r.status == "interrupted") ++g.interrupted;
        continue;
      }
      ++g.runs;
      if (r.diverged) ++g.diverged;
      if (r.zone_probes >= 0) {
        out.zone_probe = true;
        g.zone_probes += r.zone_probes;
        g.zone_above_threshold += r.zone_above_threshold;
      }
      finals.push_back(r.final_test_accuracy);
      bests.push_back(r.best_test_accuracy);
    }
    const auto ci = zones::wilson_interval(g.zone_above_threshold, g.zone_probes);
    g.zone_volume_low = ci.low;
    g.zone_volume_high = ci.high;
    mean_std(finals, g.final_mean, g.final_std);
    mean_std(bests, g.best_mean, g.best_std);
    out.groups.push_back(std::move(g));
  }
  std::sort(out.groups.begin(), out.groups.end(), [](const CompareGroup& a, const CompareGroup& b) {
    for (size_t i = 0; i < a.key.size(); ++i) {
      if (a.key[i] != b.key[i]) return value_less(a.key[i], b.key[i]);
    }
    return false;
  });
  return out;
}

std::string format_comparison_table(const Comparison& c) {
  std::vector<std::string> header = c.columns;
  for (const char* h : {"runs", "diverged", "final test acc %", "best test acc %"}) header.emplace_back(h);
  if (c.zone_probe) header.emplace_back("zone volume % (95% CI)");
  bool any_incomplete = false, any_interrupted = false;
  for (const auto& g : c.groups) {
    any_incomplete |= g.incomplete > 0;
    any_interrupted |= g.interrupted > 0;
  }
  if (any_incomplete) header.emplace_back("incomplete");
  if (any_interrupted) header.emplace_back("interrupted");
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : c.groups) {
    std::vector<std::string> row = g.key;
    row.push_back(std::to_string(g.runs));
    row.push_back(std::to_string(g.diverged));
    row.push_back(mean_and_spread(g.runs, g.final_mean, g.final_std));
    row.push_back(mean_and_spread(g.runs, g.best_mean, g.best_std));
    if (c.zone_probe)
      row.push_back(g.zone_probes > 0
                        ? fmt::format("{:.2f} [{:.2f}, {:.2f}] of {}",
                                      100.0 * g.zone_above_threshold / g.zone_probes, 100 * g.zone_volume_low,
                                      100 * g.zone_volume_high, g.zone_probes)
                        : "-");
    if (any_incomplete) row.push_back(std::to_string(g.incomplete));
    if (any_interrupted) row.push_back(std::to_string(g.interrupted));
    rows.push_back(std::move(row));
  }
  auto width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;  // count UTF-8 code points (±)
    return n;
  };
  std::vector<size_t> widths(header.size());
  for (size_t i = 0; i < header.size(); ++i) {
    widths[i] = width(header[i]);
    for (const auto& r : rows) widths[i] = std::max(widths[i], width(r[i]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i) {
      const size_t pad = widths[i] - width(cells[i]);
      // Keys left-aligned, numbers right-aligned.
      if (i < c.columns.size()) {
        s += cells[i] + std::string(pad, ' ');
      } else {
        s += std::string(pad, ' ') + cells[i];
      }
      s += i + 1 < cells.size() ? "  " : "";
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  std::string out = line(header);
  size_t total = 0;
  for (auto w : widths) total += w + 2;
  out += std::string(total - 2, '-') + "\n";
  for (const auto& r : rows) out += line(r);
  return out;
}

std::string format_comparison_csv(const Comparison& c) {
  // Values such as "[0.9,0.999]" hold commas: quote them (RFC 4180).
  auto cell = [](const std::string& v) {
    if (v.find_first_of(",\"\n") == std::string::npos) return v;
    std::string q = "\"";
    for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  };
  std::string out;
  for (const auto& col : c.columns) out += cell(col) + ",";
  out += "runs,diverged,incomplete,final_mean,final_std,best_mean,best_std,interrupted";
  out += c.zone_probe ? ",zone_probes,zone_above_threshold,zone_volume,zone_volume_low,zone_volume_high\n"
                      : "\n";
  for (const auto& g : c.groups) {
    for (const auto& k : g.key) out += cell(k) + ",";
    out += fmt::format("{},{},{},{},{},{},{},{}", g.runs, g.diverged, g.incomplete, g.final_mean, g.final_std,
                       g.best_mean, g.best_std, g.interrupted);
    if (c.zone_probe) {
      const double volume =
          g.zone_probes == 0 ? std::nan("") : static_cast<double>(g.zone_above_threshold) / g.zone_probes;
      out += fmt::format(",{},{},{},{},{}", g.zone_probes, g.zone_above_threshold, volume, g.zone_volume_low,
                         g.zone_volume_high);
    }
    out += "\n";
  }
  return out;
}

}  // namespace tiebreak::study
