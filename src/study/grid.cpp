#include "tiebreak/study/grid.h"

#include "tiebreak/config/schema.h"

#include <c10/util/Exception.h>

#include <cctype>
#include <map>
#include <set>
#include <sstream>

namespace tiebreak::study {

using nlohmann::json;

namespace {

std::string value_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

/// Directory names keep to a portable alphabet.
std::string sanitize(const std::string& text) {
  std::string out;
  for (char c : text)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == '=')
               ? c
               : '_';
  return out;
}

}  // namespace

GridAxis parse_grid_axis(const std::string& argument) {
  auto eq = argument.find('=');
  TORCH_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < argument.size(), argument,
              ": expected key=v1,v2,... e.g. nonsmooth.beta=0,1,1000");
  GridAxis axis;
  axis.key = argument.substr(0, eq);
  TORCH_CHECK(config::is_field(axis.key), argument, ": ", axis.key,
              " is not a config key (docs/training.md lists them), e.g. nonsmooth.beta");
  const std::string list = argument.substr(eq + 1);
  std::string item;
  std::stringstream ss(list);
  while (std::getline(ss, item, ',')) {
    TORCH_CHECK(!item.empty(), argument, ": empty value in the list");
    try {
      axis.values.push_back(config::parse_value(item));
    } catch (const config::ConfigError& e) {
      TORCH_CHECK(false, argument, ": ", axis.key, ": ", e.what());
    }
  }
  std::set<std::string> seen;
  for (const auto& v : axis.values) {
    TORCH_CHECK(seen.insert(v.dump()).second, argument, ": value ", v.dump(), " appears twice");
  }
  return axis;
}

std::string format_grid_axis(const GridAxis& axis) {
  std::string values;
  for (const auto& v : axis.values) values += (values.empty() ? "" : ",") + value_text(v);
  return axis.key + "=" + values;
}

std::vector<GridAxis> config_grid(const config::ExperimentConfig& config) {
  std::vector<GridAxis> axes;
  for (const auto& [key, values] : config.sweep.grid) axes.push_back({key, values});
  return axes;
}

std::vector<GridPoint> expand_grid(const std::vector<GridAxis>& axes) {
  std::map<std::string, int> short_names;
  std::set<std::string> keys;
  for (const auto& a : axes) {
    TORCH_CHECK(keys.insert(a.key).second, a.key, ": the same key is on two grid axes");
    short_names[a.key.substr(a.key.rfind('.') + 1)]++;
  }
  std::vector<GridPoint> points{GridPoint{}};
  for (const auto& axis : axes) {
    std::string label = axis.key.substr(axis.key.rfind('.') + 1);
    if (short_names[label] > 1) label = axis.key;
    std::vector<GridPoint> next;
    for (const auto& p : points) {
      for (const auto& v : axis.values) {
        GridPoint q = p;
        q.name += (q.name.empty() ? "" : "_") + sanitize(label + "=" + value_text(v));
        q.assignments.push_back(axis.key + "=" + v.dump());
        next.push_back(std::move(q));
      }
    }
    points = std::move(next);
  }
  if (axes.empty()) points[0].name = "default";
  return points;
}

std::vector<std::string> point_overrides(const std::vector<std::string>& overrides, int64_t runs,
                                         const GridPoint& point) {
  std::vector<std::string> sets = overrides;
  if (runs > 0) sets.push_back("train.runs=" + std::to_string(runs));
  sets.insert(sets.end(), point.assignments.begin(), point.assignments.end());
  return sets;
}

std::vector<SweepUnit> shard_units(size_t points, int64_t runs, int64_t index, int64_t count) {
  TORCH_CHECK(count >= 1 && index >= 0 && index < count, "shard ", index, "/", count,
              ": expected i/n with 0 <= i < n");
  std::vector<SweepUnit> units;
  int64_t k = 0;
  for (size_t p = 0; p < points; ++p) {
    for (int64_t r = 0; r < runs; ++r, ++k) {
      if (k % count == index) units.push_back({p, r});
    }
  }
  return units;
}

std::pair<int64_t, int64_t> parse_shard(const std::string& text) {
  auto slash = text.find('/');
  int64_t i = -1, n = -1;
  try {
    TORCH_CHECK(slash != std::string::npos);
    size_t used = 0;
    i = std::stoll(text.substr(0, slash), &used);
    TORCH_CHECK(used == slash);
    n = std::stoll(text.substr(slash + 1), &used);
    TORCH_CHECK(used == text.size() - slash - 1);
  } catch (const std::exception&) {
    TORCH_CHECK(false, text, ": expected i/n with 0 <= i < n, e.g. 0/4");
  }
  TORCH_CHECK(n >= 1 && i >= 0 && i < n, text, ": expected i/n with 0 <= i < n, e.g. 0/4");
  return {i, n};
}

}  // namespace tiebreak::study
