#pragma once

#include "tiebreak/config/config.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tiebreak::study {

/// One axis of a sweep's grid: a dotted config key and its values (each parsed as JSON, else a string), from
/// the config's `sweep.grid` or from text such as "nonsmooth.beta=0,1,1000".
struct GridAxis {
  std::string key;
  std::vector<nlohmann::json> values;
};

/// Parses "nonsmooth.beta=0,1,10" (values as config::parse_value reads them).
///
/// Errors: a one-line c10::Error that starts with the argument, e.g. "nonsmooth.beta: expected key=v1,v2,...
/// e.g. nonsmooth.beta=0,1,1000" (an empty value, a value given twice, a value the key's type rejects).
GridAxis parse_grid_axis(const std::string& argument);

/// `axis` as parse_grid_axis reads it back: "key=v1,v2" (strings bare, other values as JSON).
std::string format_grid_axis(const GridAxis& axis);

/// The config's own grid (its `sweep.grid` section).
std::vector<GridAxis> config_grid(const config::ExperimentConfig& config);

/// One grid point: its directory name ("beta=1000_precision=fp16") and the `key=value` overrides that
/// realise it.
struct GridPoint {
  std::string name;
  std::vector<std::string> assignments;
};

/// The cartesian product of the axes, first axis slowest ("default" for no axis). Names use each key's last
/// component unless two axes share it, then the whole key; characters outside [A-Za-z0-9.+=-] become `_`.
/// Errors: a key on two axes ("nonsmooth.beta: the same key is on two grid axes").
std::vector<GridPoint> expand_grid(const std::vector<GridAxis>& axes);

/// The overrides of one point: `overrides` (every point's), then train.runs when `runs` > 0, then the point's
/// own assignments (the grid wins).
std::vector<std::string> point_overrides(const std::vector<std::string>& overrides, int64_t runs,
                                         const GridPoint& point);

/// A unit of sweep work: run `run_id` of grid point `point`.
struct SweepUnit {
  size_t point = 0;
  int64_t run_id = 0;
};

/// Units of shard `index` of `count` (0-based): unit k (point-major, then run) belongs to shard k mod count,
/// so shards are disjoint, cover the sweep, and depend on nothing but the grid and the run count. Errors: not
/// 0 <= index < count ("shard 3/2: expected i/n with 0 <= i < n").
std::vector<SweepUnit> shard_units(size_t points, int64_t runs, int64_t index, int64_t count);

/// Parses "i/n" with 0 <= i < n. Errors: "3/2: expected i/n with 0 <= i < n, e.g. 0/4".
std::pair<int64_t, int64_t> parse_shard(const std::string& text);

}  // namespace tiebreak::study
