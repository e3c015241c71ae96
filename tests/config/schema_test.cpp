// The field tables (src/config/config.cpp): the keys they declare are the keys a config is read and
// written with, the ones --set/--grid/--pair may name, and the ones docs/training.md documents.
#include "tiebreak/config/schema.h"

#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>

namespace tiebreak::config {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

/// The dotted paths of every non-object value of `node` (sweep.grid, an object of any keys, is one leaf).
void leaves(const json& node, const std::string& path, std::set<std::string>& out) {
  if (node.is_object() && path != "sweep.grid") {
    for (const auto& [key, value] : node.items()) leaves(value, path.empty() ? key : path + "." + key, out);
  } else {
    out.insert(path);
  }
}

std::set<std::string> schema_keys() {
  std::set<std::string> keys;
  for (const auto& f : schema_fields()) keys.insert(f.key);
  return keys;
}

TEST(Schema, ListsEveryKeyAConfigIsWrittenWith) {
  std::set<std::string> written;
  leaves(to_json(ExperimentConfig{}), "", written);
  EXPECT_EQ(schema_keys(), written);
  EXPECT_EQ(schema_keys().size(), schema_fields().size()) << "a key declared twice";
  for (const char* key : {"model.stem_pool.kernel", "data.synthetic.shape", "nonsmooth.formulation",
                          "train.zone_probe.threshold", "exp.distributed.backend", "sweep.grid"}) {
    EXPECT_TRUE(is_field(key)) << key;
  }
  for (const char* key : {"model.stem_pool", "model.stem_pool_kernel", "nonsmooth", "data.name", ""}) {
    EXPECT_FALSE(is_field(key)) << key;
  }
}

TEST(Schema, FieldsCarryTheirDefaultsAndWhatTheyExpect) {
  std::map<std::string, FieldInfo> by_key;
  for (const auto& f : schema_fields()) by_key[f.key] = f;
  EXPECT_EQ(by_key.at("nonsmooth.formulation").default_value, "pure");
  EXPECT_EQ(by_key.at("nonsmooth.formulation").expected, "one of pure|mixture");
  EXPECT_EQ(by_key.at("model.stem_pool.kernel").default_value, 2);
  EXPECT_EQ(by_key.at("model.stem_pool.kernel").expected, "a positive integer");
  EXPECT_EQ(by_key.at("data.test_batch_size").default_value, 1000);
  EXPECT_TRUE(by_key.at("train.zone_probe.threshold").default_value.is_null());
  EXPECT_EQ(by_key.at("train.optimizer.betas").default_value, json({0.9, 0.999}));
}

TEST(Schema, SetFieldSetsOneTypedFieldWithItsCheck) {
  ExperimentConfig c;
  c.train.epochs = 9;
  set_field(c, "nonsmooth.beta", 1000, "zones");
  set_field(c, "nonsmooth.formulation", "mixture", "zones");
  set_field(c, "model.stem_pool.kernel", 3, "zones");
  set_field(c, "data.synthetic.shape", json({3, 8, 8}), "zones");
  EXPECT_EQ(c.nonsmooth.beta, 1000);
  EXPECT_EQ(c.nonsmooth.formulation, ops::PoolFormulation::Mixture);
  EXPECT_EQ(c.model.stem_pool.kernel, 3);
  EXPECT_EQ(c.data.synthetic.shape, (std::vector<int64_t>{3, 8, 8}));
  EXPECT_EQ(c.train.epochs, 9);  // the rest is left as it was, not reset to defaults
  // The same checks and messages as a config file's.
  auto error = [&](const std::string& key, const json& value) {
    try {
      set_field(c, key, value, "run.json with " + key);
      return std::string("<no error>");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
  };
  EXPECT_EQ(error("nonsmooth.formulation", "exact"),
            "run.json with nonsmooth.formulation: nonsmooth.formulation: expected one of pure|mixture, got "
            "\"exact\"");
  EXPECT_THAT(error("nonsmooth.beta", "big"),
              HasSubstr("nonsmooth.beta: expected a finite number, got \"big\""));
  EXPECT_THAT(error("model.stem_pool.kernel", 0),
              HasSubstr("model.stem_pool.kernel: expected a positive integer"));
  EXPECT_THAT(error("nonsmooth.bta", 1), HasSubstr("nonsmooth.bta: not a config key"));
  EXPECT_THAT(error("model.stem_pool", json::object()), HasSubstr("model.stem_pool: not a config key"));
  EXPECT_EQ(c.nonsmooth.formulation, ops::PoolFormulation::Mixture);  // a rejected value changes nothing
}

/// The keys of a cell of docs/training.md's table: `a.b`, `a.b`, `.c` (a sibling of the previous key) and
/// `a.{b,c}`.
std::vector<std::string> keys_of_cell(const std::string& cell) {
  std::vector<std::string> keys;
  static const std::regex code("`([^`]*)`");
  for (auto it = std::sregex_iterator(cell.begin(), cell.end(), code); it != std::sregex_iterator(); ++it) {
    std::string key = (*it)[1];
    if (!key.empty() && key[0] == '.') {
      if (keys.empty()) continue;
      key = keys.back().substr(0, keys.back().rfind('.')) + key;
    }
    const auto open = key.find('{');
    if (open != std::string::npos) {
      const std::string stem = key.substr(0, open);
      std::stringstream list(key.substr(open + 1, key.find('}') - open - 1));
      for (std::string part; std::getline(list, part, ',');) keys.push_back(stem + part);
    } else {
      keys.push_back(key);
    }
  }
  return keys;
}

/// A default cell split at top-level ", " (not inside brackets), each part as JSON (`x` and bare words
/// as strings).
std::vector<json> defaults_of_cell(const std::string& cell) {
  std::vector<std::string> parts{""};
  int depth = 0;
  for (size_t i = 0; i < cell.size(); ++i) {
    const char ch = cell[i];
    depth += ch == '[' ? 1 : ch == ']' ? -1 : 0;
    if (ch == ',' && depth == 0 && i + 1 < cell.size() && cell[i + 1] == ' ') {
      parts.emplace_back();
      ++i;
      continue;
    }
    parts.back() += ch;
  }
  std::vector<json> out;
  for (auto part : parts) {
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (part.size() >= 2 && part.front() == '`' && part.back() == '`') part = part.substr(1, part.size() - 2);
    const bool quoted = part.size() >= 2 && part.front() == '"' && part.back() == '"';
    json value = json::parse(part, nullptr, false);
    out.push_back(value.is_discarded() && !quoted ? json(part) : value);
  }
  return out;
}

TEST(Schema, TheDocsConfigTableListsEveryKeyWithItsDefault) {
  const auto path = tiebreak::testing::source_dir() / "docs" / "training.md";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::set<std::string> documented;
  int defaults_checked = 0;
  std::map<std::string, json> defaults;
  for (const auto& f : schema_fields()) defaults[f.key] = f.default_value;
  bool in_table = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| key | default | meaning |", 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    if (line.empty() || line[0] != '|') break;
    if (line.rfind("|---", 0) == 0) continue;
    // | keys | default | meaning |
    const auto second = line.find(" | ", 1);
    const auto third = line.find(" | ", second + 3);
    ASSERT_NE(third, std::string::npos) << line;
    const auto keys = keys_of_cell(line.substr(1, second - 1));
    ASSERT_FALSE(keys.empty()) << line;
    for (const auto& key : keys) {
      EXPECT_TRUE(documented.insert(key).second) << key << " documented twice";
      EXPECT_TRUE(is_field(key)) << "docs/training.md documents " << key << ", which the schema lacks";
    }
    // Check the defaults where the cell gives one literal per key, or one for all of them.
    const auto values = defaults_of_cell(line.substr(second + 3, third - second - 3));
    if (values.size() != keys.size() && values.size() != 1) continue;
    for (size_t k = 0; k < keys.size(); ++k) {
      if (!defaults.count(keys[k])) continue;
      const json& documented_default = values[values.size() == 1 ? 0 : k];
      const json& actual = defaults.at(keys[k]);
      // Prose defaults ("sgd 0.01, others 1e-3") are not literals: only a literal of the key's type counts.
      if (documented_default.is_string() && !actual.is_string()) continue;
      EXPECT_EQ(documented_default, actual) << keys[k] << " in " << line;
      ++defaults_checked;
    }
  }
  EXPECT_TRUE(in_table) << "no config table in " << path;
  for (const auto& key : schema_keys())
    EXPECT_TRUE(documented.count(key)) << key << " is missing from docs/training.md's config table";
  EXPECT_GT(defaults_checked, 60);
}

}  // namespace
}  // namespace tiebreak::config
