#include "tiebreak/train/metrics.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace tiebreak::train {

namespace {

/// JSON has no NaN/Inf: they travel as strings so a diverged row survives a checkpoint.
nlohmann::json number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

double number_from(const nlohmann::json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    TORCH_CHECK(false, "metrics row: expected a number, got \"", s, "\"");
  }
  return v.get<double>();
}

std::string field(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

nlohmann::json zone_probe_json(const ZoneProbeMetrics& z) {
  return {{"norm", z.norm},
          {"threshold", number(z.threshold)},
          {"probes", z.probes},
          {"non_finite", z.non_finite},
          {"above_threshold", z.above_threshold},
          {"volume_low", number(z.volume_low)},
          {"volume_high", number(z.volume_high)},
          {"median", number(z.median)},
          {"max", number(z.max)},
          {"bifurcation", z.bifurcation},
          {"compensation", z.compensation},
          {"unresolved", z.unresolved},
          {"none", z.none}};
}

ZoneProbeMetrics zone_probe_from_json(const nlohmann::json& j) {
  ZoneProbeMetrics z;
  z.norm = j.at("norm").get<std::string>();
  z.threshold = number_from(j.at("threshold"));
  z.probes = j.at("probes").get<int64_t>();
  z.non_finite = j.at("non_finite").get<int64_t>();
  z.above_threshold = j.at("above_threshold").get<int64_t>();
  z.volume_low = number_from(j.at("volume_low"));
  z.volume_high = number_from(j.at("volume_high"));
  z.median = number_from(j.at("median"));
  z.max = number_from(j.at("max"));
  z.bifurcation = j.at("bifurcation").get<int64_t>();
  z.compensation = j.at("compensation").get<int64_t>();
  z.unresolved = j.at("unresolved").get<int64_t>();
  z.none = j.at("none").get<int64_t>();
  return z;
}

}  // namespace

nlohmann::json to_json(const EpochMetrics& r) {
  nlohmann::json ties = nlohmann::json::array();
  for (const auto& [name, fraction] : r.ties) ties.push_back({name, number(fraction)});
  nlohmann::json j = {{"run_id", r.run_id},
                      {"epoch", r.epoch},
                      {"train_loss", number(r.train_loss)},
                      {"train_accuracy", number(r.train_accuracy)},
                      {"test_loss", number(r.test_loss)},
                      {"test_accuracy", number(r.test_accuracy)},
                      {"beta", number(r.beta)},
                      {"batch_norm", r.batch_norm},
                      {"precision", r.precision},
                      {"formulation", r.formulation},
                      {"optimizer", r.optimizer},
                      {"lr", number(r.lr)},
                      {"seconds", number(r.seconds)},
                      {"ties", ties},
                      {"diverged", r.diverged},
                      {"filled", r.filled}};
  if (r.zone_probe) j["zone_probe"] = zone_probe_json(*r.zone_probe);
  return j;
}

EpochMetrics epoch_metrics_from_json(const nlohmann::json& j) {
  EpochMetrics r;
  r.run_id = j.at("run_id").get<int64_t>();
  r.epoch = j.at("epoch").get<int64_t>();
  r.train_loss = number_from(j.at("train_loss"));
  r.train_accuracy = number_from(j.at("train_accuracy"));
  r.test_loss = number_from(j.at("test_loss"));
  r.test_accuracy = number_from(j.at("test_accuracy"));
  r.beta = number_from(j.at("beta"));
  r.batch_norm = j.at("batch_norm").get<bool>();
  r.precision = j.at("precision").get<std::string>();
  r.formulation = j.at("formulation").get<std::string>();
  r.optimizer = j.at("optimizer").get<std::string>();
  r.lr = number_from(j.at("lr"));
  r.seconds = number_from(j.at("seconds"));
  for (const auto& t : j.at("ties")) r.ties.emplace_back(t.at(0).get<std::string>(), number_from(t.at(1)));
  r.diverged = j.at("diverged").get<bool>();
  r.filled = j.at("filled").get<bool>();
  // Absent in rows written without the probe (and by versions before it).
  if (j.contains("zone_probe")) r.zone_probe = zone_probe_from_json(j.at("zone_probe"));
  return r;
}

std::string format_metrics_csv(const std::vector<EpochMetrics>& rows) {
  std::string out =
      "run_id,epoch,train_loss,train_accuracy,test_loss,test_accuracy,beta,batch_norm,precision,formulation,"
      "optimizer,lr,seconds";
  std::vector<std::string> tie_columns;
  for (const auto& row : rows) {
    for (const auto& [name, fraction] : row.ties) {
      if (std::find(tie_columns.begin(), tie_columns.end(), name) == tie_columns.end())
        tie_columns.push_back(name);
    }
  }
  for (const auto& name : tie_columns) out += ",ties." + name;
  out += ",diverged,filled";
  const bool zone_columns =
      std::any_of(rows.begin(), rows.end(), [](const EpochMetrics& r) { return r.zone_probe.has_value(); });
  if (zone_columns)
    out +=
        ",zone_norm,zone_threshold,zone_probes,zone_non_finite,zone_above_threshold,zone_volume,"
        "zone_volume_low,zone_volume_high,zone_d_median,zone_d_max,zone_bifurcation,zone_compensation,"
        "zone_unresolved,zone_none";
  out += "\n";
  for (const auto& r : rows) {
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}", r.run_id, r.epoch, field(r.train_loss),
                       field(r.train_accuracy), field(r.test_loss), field(r.test_accuracy), field(r.beta),
                       r.batch_norm ? 1 : 0, r.precision, r.formulation, r.optimizer, field(r.lr),
                       field(r.seconds));
    for (const auto& name : tie_columns) {
      double value = std::numeric_limits<double>::quiet_NaN();
      for (const auto& [n, fraction] : r.ties)
        if (n == name) value = fraction;
      out += "," + field(value);
    }
    out += fmt::format(",{},{}", r.diverged ? 1 : 0, r.filled ? 1 : 0);
    if (zone_columns) {
      if (const auto& z = r.zone_probe) {
        out += fmt::format(",{},{},{},{},{},{},{},{},{},{},{},{},{},{}", z->norm, field(z->threshold),
                           z->probes, z->non_finite, z->above_threshold, field(z->volume()),
                           field(z->volume_low), field(z->volume_high), field(z->median), field(z->max),
                           z->bifurcation, z->compensation, z->unresolved, z->none);
      } else {
        out += std::string(14, ',');
      }
    }
    out += "\n";
  }
  return out;
}

std::string python_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // fmt's shortest round-trip form switches to exponents where repr() does (below 1e-4, from 1e16) and
  // writes them the same way ("1e-05", "1e+16"); only an integral value lacks repr()'s ".0".
  std::string text = fmt::format("{}", v);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string format_study_metrics_csv(const std::vector<EpochMetrics>& rows) {
  std::string out = "run_id,epoch,train_loss,train_accuracy,test_loss,test_accuracy,maxpool,batch_norm\n";
  for (const auto& r : rows) {
    out += fmt::format("{},{},{},{},{},{},{},{}\n", r.run_id, r.epoch, python_float(r.train_loss),
                       python_float(r.train_accuracy), python_float(r.test_loss),
                       python_float(r.test_accuracy), python_float(r.beta), r.batch_norm ? "True" : "False");
  }
  return out;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

}  // namespace tiebreak::train
