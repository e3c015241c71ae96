#include "tiebreak/config/config.h"
#include "tiebreak/config/schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

namespace tiebreak::config {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// Which file (or override) last gave each JSON path its value, so that an error
/// found after merging still names the file or the override the bad value came from.
struct Origins {
  /// A file, or an override ("KEY=VALUE") when `assignment` is set.
  struct Origin {
    std::string file;
    std::string assignment;
  };
  std::map<std::string, Origin> by_path;
  std::string fallback;

  Origin of(std::string path) const {
    while (true) {
      if (auto it = by_path.find(path); it != by_path.end()) return it->second;
      auto dot = path.rfind('.');
      if (dot == std::string::npos) break;
      path.resize(dot);
    }
    if (auto it = by_path.find(path); it != by_path.end()) return it->second;
    return Origin{fallback, ""};
  }

  /// The error `detail` about `path`, naming where its value came from.
  ConfigError error(const std::string& path, const std::string& detail) const {
    const Origin origin = of(path);
    if (!origin.assignment.empty()) return ConfigError::in_override(origin.assignment, detail);
    return ConfigError(origin.file + ": " + detail);
  }

  void record_override(const std::string& path, const std::string& assignment) {
    by_path[path] = Origin{"", assignment};
  }

  void record(const json& node, const std::string& path, const std::string& source) {
    if (!path.empty()) by_path[path] = Origin{source, ""};
    if (node.is_object()) {
      for (const auto& [key, value] : node.items())
        record(value, path.empty() ? key : path + "." + key, source);
    }
  }
};

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string shown(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

/// Reads one JSON object of the schema: every getter consumes a key, `finish()`
/// rejects whatever was not consumed.
class Section {
 public:
  Section(const json* node, std::string path, const Origins& origins)
      : node_(node), path_(std::move(path)), origins_(origins) {
    if (node_ && !node_->is_object()) fail(path_, "expected an object", *node_);
  }

  [[noreturn]] void fail(const std::string& path, const std::string& expected, const json& got) const {
    throw origins_.error(path, fmt::format("{}: {}, got {}", path, expected, shown(got)));
  }
  [[noreturn]] void fail_key(const std::string& key, const std::string& message) const {
    const std::string path = join(path_, key);
    throw origins_.error(path, fmt::format("{}: {}", path, message));
  }

  const json* find(const std::string& key) {
    consumed_.insert(key);
    if (!node_) return nullptr;
    auto it = node_->find(key);
    return it == node_->end() ? nullptr : &*it;
  }
  bool has(const std::string& key) const { return node_ && node_->contains(key); }

  double number(const std::string& key, double fallback, const std::string& expected = "a number",
                const std::function<bool(double)>& ok = nullptr) {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_number() || (ok && !ok(v->get<double>()))) fail(join(path_, key), "expected " + expected, *v);
    return v->get<double>();
  }

  int64_t integer(const std::string& key, int64_t fallback, int64_t min, const std::string& expected) {
    const json* v = find(key);
    if (!v) return fallback;
    bool integral =
        v->is_number_integer() || (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
                                   std::abs(v->get<double>()) < 9.0e15);
    if (!integral) fail(join(path_, key), "expected " + expected, *v);
    int64_t value = v->is_number_unsigned()  ? static_cast<int64_t>(v->get<uint64_t>())
                    : v->is_number_integer() ? v->get<int64_t>()
                                             : static_cast<int64_t>(v->get<double>());
    if (value < min) fail(join(path_, key), "expected " + expected, *v);
    return value;
  }

  bool boolean(const std::string& key, bool fallback) {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(join(path_, key), "expected true or false", *v);
    return v->get<bool>();
  }

  std::string string(const std::string& key, const std::string& fallback,
                     const std::string& expected = "a string",
                     const std::function<bool(const std::string&)>& ok = nullptr) {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_string() || (ok && !ok(v->get<std::string>())))
      fail(join(path_, key), "expected " + expected, *v);
    return v->get<std::string>();
  }

  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& allowed) {
    std::string expected = "one of";
    for (size_t i = 0; i < allowed.size(); ++i) expected += (i ? "|" : " ") + allowed[i];
    return string(key, fallback, expected, [&](const std::string& s) {
      return std::find(allowed.begin(), allowed.end(), s) != allowed.end();
    });
  }

  /// An enum field, by the names of its core::enum_names table.
  template <typename E>
  E enumeration(const std::string& key, E fallback) {
    std::vector<std::string> names;
    for (const auto& entry : core::enum_table<E>()) names.emplace_back(entry.name);
    return *core::enum_from_name<E>(choice(key, core::enum_name(fallback), names));
  }

  std::vector<std::string> strings(const std::string& key, const std::vector<std::string>& fallback) {
    const json* v = find(key);
    if (!v) return fallback;
    bool ok = v->is_array();
    if (ok)
      for (const auto& e : *v) ok = ok && e.is_string();
    if (!ok) fail(join(path_, key), "expected a list of path strings", *v);
    return v->get<std::vector<std::string>>();
  }

  Section section(const std::string& key) { return Section(find(key), join(path_, key), origins_); }

  const std::string& path() const { return path_; }

  void finish() const {
    if (!node_) return;
    for (const auto& [key, value] : node_->items()) {
      if (!consumed_.count(key)) {
        std::string known;
        for (const auto& k : consumed_) known += (known.empty() ? "" : ", ") + k;
        fail_key(key, fmt::format("unknown key (expected one of: {})", known));
      }
    }
  }

 private:
  const json* node_;
  std::string path_;
  const Origins& origins_;
  std::set<std::string> consumed_;
};

/// A number in JSON text that a double cannot hold (1e999): nlohmann::json
/// reports it without saying where; this carries the JSON path of the value.
struct NumberOverflow {
  std::string path;   ///< dotted path inside the parsed text ("" for the top level)
  std::string token;  ///< the number as written
};

/// json::parse that turns a number overflow into NumberOverflow naming its path
/// (the parser callback sees each key before its value is lexed). Syntax errors
/// stay json::parse_error.
json parse_json_text(const std::string& text) {
  struct Frame {
    bool array = false;
    std::string key;
    int64_t index = -1;  ///< arrays: the element being read
  };
  std::vector<Frame> stack;
  auto callback = [&stack](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (!stack.empty() && stack.back().array) ++stack.back().index;
        stack.push_back(Frame{event == json::parse_event_t::array_start, "", -1});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case json::parse_event_t::key:
        stack.back().key = parsed.get<std::string>();
        break;
      case json::parse_event_t::value:
        if (!stack.empty() && stack.back().array) ++stack.back().index;
        break;
    }
    return true;
  };
  try {
    return json::parse(text, callback);
  } catch (const json::out_of_range& e) {
    if (e.id != 406) throw;
    NumberOverflow overflow;
    const std::string what = e.what();
    const auto open = what.find('\''), close = what.rfind('\'');
    overflow.token =
        open != std::string::npos && close > open ? what.substr(open + 1, close - open - 1) : "?";
    for (size_t i = 0; i < stack.size(); ++i) {
      const auto& f = stack[i];
      if (f.array) {
        // The innermost array has not counted the element whose number failed yet.
        overflow.path += "[" + std::to_string(i + 1 == stack.size() ? f.index + 1 : f.index) + "]";
      } else {
        overflow.path += (overflow.path.empty() ? "" : ".") + f.key;
      }
    }
    throw overflow;
  }
}

std::string overflow_message(const std::string& path, const std::string& token) {
  return fmt::format("{}expected a finite number, got {} (beyond the range of a double, about 1.8e308)",
                     path.empty() ? "" : path + ": ", token);
}

bool positive(double v) { return v > 0; }
bool non_negative(double v) { return v >= 0; }
bool unit_open(double v) { return v >= 0 && v < 1; }

bool valid_device(const std::string& s) {
  static const std::regex pattern("auto|cpu|cuda|cuda:[0-9]+");
  return std::regex_match(s, pattern);
}

/// The largest finite value of the dtype the parameters live in under
/// `precision` (train::plan_for's parameter_dtype: Half for fp16, BFloat16 for
/// bf16, Double for fp64, Float otherwise, the amp precisions included), and its name.
std::pair<double, std::string> largest_parameter_value(Precision precision) {
  switch (precision) {
    case Precision::Fp16:
      return {65504.0, "fp16"};
    case Precision::Bf16:
      return {3.3895313892515355e38, "bf16"};
    case Precision::Fp64:
      return {std::numeric_limits<double>::max(), "fp64"};
    case Precision::Fp32:
    case Precision::AmpFp16:
    case Precision::AmpBf16:
      return {3.4028234663852886e38, "fp32"};
  }
  return {std::numeric_limits<double>::max(), "?"};
}

/// The optimizer step multiplies the learning rate (and weight decay, eps)
/// into tensors of the parameters' dtype, and LibTorch refuses a scalar that
/// overflows it ("value cannot be converted to type at::Half without
/// overflow") at the first step, naming neither the field nor the cause. Check
/// here, naming the field: lr = 1e5 with fp16 parameters, 1e39 with fp32.
void check_optimizer_range(const TrainConfig& t, Section optimizer, Section schedule) {
  const auto limit = largest_parameter_value(t.precision);
  const double largest = limit.first;
  const std::string& dtype = limit.second;
  const std::string why = fmt::format("{:g}, the largest {} number ({} training keeps its parameters in {})",
                                      largest, dtype, to_string(t.precision), dtype);
  const auto& o = t.optimizer;
  auto require = [&](const char* key, double value, const std::string& what) {
    if (value > largest)
      optimizer.fail_key(key, fmt::format("expected {}at most {}, got {:g}", what, why, value));
  };
  require("lr", o.lr, "");
  require("weight_decay", o.weight_decay, "");
  require("eps", o.eps, "");
  if (o.name == OptimizerKind::Adam || o.name == OptimizerKind::AdamW) {
    // Adam's first step moves by lr / (1 - beta1).
    require("lr", o.lr / (1 - o.betas[0]), "lr / (1 - betas[0]) (Adam's first step) ");
  }
  if (t.schedule.name == ScheduleKind::Step && t.schedule.gamma > 1) {
    const double peak =
        o.lr * std::pow(t.schedule.gamma, static_cast<double>((t.epochs - 1) / t.schedule.step_size));
    if (peak > largest)
      schedule.fail_key("gamma",
                        fmt::format("expected the learning rate to stay at most {}, but lr x gamma^k "
                                    "reaches {:g} by the last epoch",
                                    why, peak));
  }
}

/// `train.zone_probe.pair`: "nonsmooth.KEY=A,B" with KEY a Jacobian choice that can be switched on the
/// built layers (not nonsmooth.pool, which changes the layers themselves) and A, B values of KEY's type or
/// `run`. tiebreak::zones::PairSpec::parse reads the same text.
void check_zone_probe_pair(const std::string& text, Section& section) {
  const auto eq = text.find('=');
  const std::string key = eq == std::string::npos ? text : text.substr(0, eq);
  // The nonsmooth section's keys but pool, which changes the layers themselves.
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (const auto& field : schema_fields())
      if (field.key.rfind("nonsmooth.", 0) == 0 && field.key != "nonsmooth.pool") out.push_back(field.key);
    return out;
  }();
  if (eq == std::string::npos || std::find(keys.begin(), keys.end(), key) == keys.end()) {
    std::string listed;
    for (const auto& k : keys) listed += (listed.empty() ? "" : ", ") + k;
    section.fail_key("pair",
                     fmt::format("expected KEY=A,B with KEY one of {} (e.g. nonsmooth.beta=0,1), got \"{}\"",
                                 listed, text));
  }
  const std::string values = text.substr(eq + 1);
  const auto comma = values.find(',');
  std::vector<std::string> parts;
  if (comma != std::string::npos && values.find(',', comma + 1) == std::string::npos)
    parts = {values.substr(0, comma), values.substr(comma + 1)};
  auto trim = [](std::string v) {
    v.erase(0, v.find_first_not_of(" \t"));
    v.erase(v.find_last_not_of(" \t") + 1);
    return v;
  };
  for (auto& p : parts) p = trim(p);
  const bool formulation = key == "nonsmooth.formulation";
  auto valid = [&](const std::string& v) {
    if (v == "run") return true;
    if (formulation) return core::enum_from_name<ops::PoolFormulation>(v).has_value();
    try {
      const json parsed = parse_value(v);
      return parsed.is_number() && std::isfinite(parsed.get<double>());
    } catch (const ConfigError&) {
      return false;  // beyond a double's range
    }
  };
  if (parts.size() != 2 || !valid(parts[0]) || !valid(parts[1]) || parts[0] == parts[1])
    section.fail_key(
        "pair",
        fmt::format("expected two different values of {} ({} or run) separated by a comma, "
                    "got \"{}\"",
                    key, formulation ? core::enum_choices<ops::PoolFormulation>(", ") : "finite numbers",
                    values));
}

// ---------------------------------------------------------------------------------------------------------
// The schema: one field table per section. Each `visit` below lists its section's keys once, with their
// checks; the visitors read a section from JSON (Reader), write it (Writer), list its keys with their
// defaults (KeyLister: docs table, --set/--grid/--pair key checks) or set one key of a typed config
// (Setter). A struct member is named as its JSON key, nested structs as nested objects.

template <typename V>
void visit(DataConfig::Files& f, V& v);
template <typename V>
void visit(DataConfig::Synthetic& s, V& v);
template <typename V>
void visit(DataConfig& d, V& v);
template <typename V>
void visit(ModelConfig::StemPool& p, V& v);
template <typename V>
void visit(ModelConfig& m, V& v);
template <typename V>
void visit(NonsmoothConfig& n, V& v);
template <typename V>
void visit(OptimizerConfig& o, V& v);
template <typename V>
void visit(ScheduleConfig& s, V& v);
template <typename V>
void visit(LossScaleConfig& l, V& v);
template <typename V>
void visit(ZoneProbeConfig& z, V& v);
template <typename V>
void visit(TrainConfig& t, V& v);
template <typename V>
void visit(SweepConfig& s, V& v);
template <typename V>
void visit(ZonesConfig& z, V& v);
template <typename V>
void visit(DistributedConfig& d, V& v);
template <typename V>
void visit(ExpConfig& e, V& v);
template <typename V>
void visit(ExperimentConfig& c, V& v);

bool non_empty(const std::string& v) { return !v.empty(); }
bool any_string(const std::string&) { return true; }
bool any_number(double) { return true; }
bool greater_than_one(double v) { return v > 1; }
bool unit_interval_open(double v) { return v > 0 && v < 1; }
bool directory_name(const std::string& v) {
  return v.find('/') == std::string::npos && v != "." && v != "..";
}

/// Reads one section through a Section (which rejects unconsumed keys at the end).
class Reader {
 public:
  explicit Reader(Section& section) : s_(section) {}

  template <typename T>
  void integer(const char* key, T& value, int64_t min, const char* expected) {
    value = static_cast<T>(s_.integer(key, static_cast<int64_t>(value), min, expected));
  }
  void number(const char* key, double& value, const char* expected, bool (*ok)(double)) {
    value = s_.number(key, value, expected, ok);
  }
  void boolean(const char* key, bool& value) { value = s_.boolean(key, value); }
  void string(const char* key, std::string& value, const char* expected, bool (*ok)(const std::string&)) {
    value = s_.string(key, value, expected, ok);
  }
  template <typename E>
  void enumeration(const char* key, E& value) {
    value = s_.enumeration(key, value);
  }
  void strings(const char* key, std::vector<std::string>& value) { value = s_.strings(key, value); }
  /// A field whose JSON form needs its own check: `read(json, fail)` returns the value or calls
  /// `fail()`, which reports `expected` (or `fail(".sub", "what", value)`, a part of it); `write` gives
  /// the JSON form.
  template <typename T, typename Read, typename Write>
  void custom(const char* key, T& value, const char* expected, Read read, Write /*write*/) {
    if (const json* v = s_.find(key)) {
      const std::string path = join(s_.path(), key);
      auto fail = [&](const std::string& sub = "", const char* what = nullptr, const json* got = nullptr) {
        s_.fail(path + sub, std::string("expected ") + (what ? what : expected), got ? *got : *v);
      };
      value = read(*v, fail);
    }
  }
  template <typename S>
  void section(const char* key, S& value) {
    Section sub = s_.section(key);
    Reader reader(sub);
    visit(value, reader);
    sub.finish();
  }
  /// Defaults that depend on a field read before (the optimizer's lr and weight decay).
  template <typename F>
  void defaults(F&& f) {
    f();
  }
  /// A check across fields of the section, run once its fields are read.
  template <typename F>
  void validate(F&& f) {
    f(s_);
  }

 private:
  Section& s_;
};

/// Writes one section as JSON (every field).
class Writer {
 public:
  explicit Writer(json& out) : out_(out) {}

  template <typename T>
  void integer(const char* key, T& value, int64_t, const char*) {
    out_[key] = value;
  }
  void number(const char* key, double& value, const char*, bool (*)(double)) { out_[key] = value; }
  void boolean(const char* key, bool& value) { out_[key] = value; }
  void string(const char* key, std::string& value, const char*, bool (*)(const std::string&)) {
    out_[key] = value;
  }
  template <typename E>
  void enumeration(const char* key, E& value) {
    out_[key] = core::enum_name(value);
  }
  void strings(const char* key, std::vector<std::string>& value) { out_[key] = value; }
  template <typename T, typename Read, typename Write>
  void custom(const char* key, T& value, const char*, Read, Write write) {
    out_[key] = write(value);
  }
  template <typename S>
  void section(const char* key, S& value) {
    json sub = json::object();
    Writer writer(sub);
    visit(value, writer);
    out_[key] = std::move(sub);
  }
  template <typename F>
  void defaults(F&&) {}
  template <typename F>
  void validate(F&&) {}

 private:
  json& out_;
};

/// Lists every key (dotted path) and what it expects.
class KeyLister {
 public:
  KeyLister(std::vector<FieldInfo>& out, std::string prefix) : out_(out), prefix_(std::move(prefix)) {}

  template <typename T>
  void integer(const char* key, T&, int64_t, const char* expected) {
    add(key, expected);
  }
  void number(const char* key, double&, const char* expected, bool (*)(double)) { add(key, expected); }
  void boolean(const char* key, bool&) { add(key, "true or false"); }
  void string(const char* key, std::string&, const char* expected, bool (*)(const std::string&)) {
    add(key, expected);
  }
  template <typename E>
  void enumeration(const char* key, E&) {
    add(key, "one of " + core::enum_choices<E>());
  }
  void strings(const char* key, std::vector<std::string>&) { add(key, "a list of path strings"); }
  template <typename T, typename Read, typename Write>
  void custom(const char* key, T&, const char* expected, Read, Write) {
    add(key, expected);
  }
  template <typename S>
  void section(const char* key, S& value) {
    KeyLister lister(out_, join(prefix_, key));
    visit(value, lister);
  }
  template <typename F>
  void defaults(F&&) {}
  template <typename F>
  void validate(F&&) {}

 private:
  void add(const char* key, std::string expected) {
    out_.push_back({join(prefix_, key), std::move(expected), {}});
  }

  std::vector<FieldInfo>& out_;
  std::string prefix_;
};

/// Sets the one field at `key` (a dotted path) of a typed config from a JSON value, with that field's own
/// check (through Reader, so the error reads as a config file's would).
class Setter {
 public:
  Setter(const std::string& key, const json& value, const Origins& origins, std::string prefix = "")
      : key_(key), value_(value), origins_(origins), prefix_(std::move(prefix)) {}

  bool found() const { return found_; }

  template <typename T>
  void integer(const char* key, T& value, int64_t min, const char* expected) {
    if (match(key)) with_reader(key, [&](Reader& r) { r.integer(key, value, min, expected); });
  }
  void number(const char* key, double& value, const char* expected, bool (*ok)(double)) {
    if (match(key)) with_reader(key, [&](Reader& r) { r.number(key, value, expected, ok); });
  }
  void boolean(const char* key, bool& value) {
    if (match(key)) with_reader(key, [&](Reader& r) { r.boolean(key, value); });
  }
  void string(const char* key, std::string& value, const char* expected, bool (*ok)(const std::string&)) {
    if (match(key)) with_reader(key, [&](Reader& r) { r.string(key, value, expected, ok); });
  }
  template <typename E>
  void enumeration(const char* key, E& value) {
    if (match(key)) with_reader(key, [&](Reader& r) { r.enumeration(key, value); });
  }
  void strings(const char* key, std::vector<std::string>& value) {
    if (match(key)) with_reader(key, [&](Reader& r) { r.strings(key, value); });
  }
  template <typename T, typename Read, typename Write>
  void custom(const char* key, T& value, const char* expected, Read read, Write write) {
    if (match(key)) with_reader(key, [&](Reader& r) { r.custom(key, value, expected, read, write); });
  }
  template <typename S>
  void section(const char* key, S& value) {
    const std::string path = join(prefix_, key);
    if (key_.rfind(path + ".", 0) != 0) return;
    Setter setter(key_, value_, origins_, path);
    visit(value, setter);
    found_ = found_ || setter.found_;
  }
  template <typename F>
  void defaults(F&&) {}
  template <typename F>
  void validate(F&&) {}

 private:
  bool match(const char* key) const { return join(prefix_, key) == key_; }
  template <typename F>
  void with_reader(const char* key, F&& f) {
    json object = json::object();
    object[key] = value_;
    Section section(&object, prefix_, origins_);
    Reader reader(section);
    f(reader);
    found_ = true;
  }

  const std::string& key_;
  const json& value_;
  const Origins& origins_;
  std::string prefix_;
  bool found_ = false;
};

template <typename V>
void visit(DataConfig::Files& f, V& v) {
  v.strings("train", f.train);
  v.strings("test", f.test);
}

template <typename V>
void visit(DataConfig::Synthetic& s, V& v) {
  const char* positive_integer = "a positive integer";
  v.integer("train_size", s.train_size, 1, positive_integer);
  v.integer("test_size", s.test_size, 1, positive_integer);
  v.integer("classes", s.classes, 2, "an integer >= 2");
  v.custom(
      "shape", s.shape, "[channels, height, width] as positive integers",
      [](const json& j, auto fail) {
        bool ok = j.is_array() && j.size() == 3;
        if (ok)
          for (const auto& e : j) ok = ok && e.is_number_integer() && e.get<int64_t>() > 0;
        if (!ok) fail();
        return j.get<std::vector<int64_t>>();
      },
      [](const std::vector<int64_t>& shape) { return json(shape); });
}

template <typename V>
void visit(DataConfig& d, V& v) {
  const char* positive_integer = "a positive integer";
  v.string("dataset", d.dataset, "a non-empty dataset name", non_empty);
  v.string("root", d.root, "a string", any_string);
  v.integer("batch_size", d.batch_size, 1, positive_integer);
  v.integer("test_batch_size", d.test_batch_size, 1, positive_integer);
  v.boolean("shuffle", d.shuffle);
  v.enumeration("augmentation", d.augmentation);
  v.boolean("svhn_extra", d.svhn_extra);
  v.integer("train_limit", d.train_limit, 0, "a non-negative integer (0 = all)");
  v.integer("test_limit", d.test_limit, 0, "a non-negative integer (0 = all)");
  v.integer("num_workers", d.num_workers, 1, positive_integer);
  v.integer("crop_size", d.crop_size, 1, positive_integer);
  v.integer("resize_size", d.resize_size, 1, positive_integer);
  v.section("files", d.files);
  v.section("synthetic", d.synthetic);
}

template <typename V>
void visit(ModelConfig::StemPool& p, V& v) {
  v.integer("kernel", p.kernel, 1, "a positive integer");
  v.integer("stride", p.stride, 1, "a positive integer");
  v.integer("padding", p.padding, 0, "a non-negative integer");
  v.validate([&](Section& s) {
    if (2 * p.padding > p.kernel)
      s.fail_key("padding",
                 fmt::format("expected at most half the kernel ({}), got {}", p.kernel, p.padding));
  });
}

template <typename V>
void visit(ModelConfig& m, V& v) {
  v.string("name", m.name, "a non-empty model name", non_empty);
  v.boolean("batch_norm", m.batch_norm);
  v.enumeration("init", m.init);
  v.enumeration("variant", m.variant);
  v.enumeration("stem", m.stem);
  v.section("stem_pool", m.stem_pool);
}

template <typename V>
void visit(NonsmoothConfig& n, V& v) {
  v.enumeration("pool", n.pool);
  v.number("beta", n.beta, "a finite number", any_number);
  v.enumeration("formulation", n.formulation);
  v.number("grad_at_zero", n.grad_at_zero, "a finite number", any_number);
  v.number("relu_alpha", n.relu_alpha, "a finite number", any_number);
}

template <typename V>
void visit(OptimizerConfig& o, V& v) {
  v.enumeration("name", o.name);
  v.defaults([&] {
    // The adaptive optimizers' customary defaults; adamw and innaprop decay decoupled, as PyTorch's AdamW.
    o.lr = o.name != OptimizerKind::Sgd ? 1e-3 : 0.01;
    o.weight_decay = o.name == OptimizerKind::AdamW || o.name == OptimizerKind::INNAprop ? 0.01 : 0.0;
  });
  v.number("lr", o.lr, "a positive number", positive);
  v.number("momentum", o.momentum, "a number in [0, 1)", unit_open);
  v.number("weight_decay", o.weight_decay, "a non-negative number", non_negative);
  v.boolean("nesterov", o.nesterov);
  v.custom(
      "betas", o.betas, "two numbers in [0, 1)",
      [](const json& j, auto fail) {
        if (!(j.is_array() && j.size() == 2 && j[0].is_number() && j[1].is_number() &&
              unit_open(j[0].get<double>()) && unit_open(j[1].get<double>())))
          fail();
        return std::array<double, 2>{j[0].get<double>(), j[1].get<double>()};
      },
      [](const std::array<double, 2>& betas) {
        return json{betas[0], betas[1]};
      });
  v.number("eps", o.eps, "a non-negative number", non_negative);
  v.number("alpha", o.alpha, "a non-negative number", non_negative);
  v.number("beta", o.beta, "a positive number", positive);
  v.number("sigma", o.sigma, "a number in [0, 1)", unit_open);
  v.validate([&](Section& s) {
    if (o.nesterov && (o.name != OptimizerKind::Sgd || o.momentum <= 0))
      s.fail_key("nesterov", "Nesterov momentum needs optimizer sgd with momentum > 0");
    if (o.name == OptimizerKind::INNAprop && o.lr >= o.beta)
      s.fail_key("lr", fmt::format("expected less than train.optimizer.beta ({}) for innaprop, got {}",
                                   o.beta, o.lr));
  });
}

template <typename V>
void visit(ScheduleConfig& s, V& v) {
  v.enumeration("name", s.name);
  v.integer("step_size", s.step_size, 1, "a positive integer");
  v.number("gamma", s.gamma, "a positive number", positive);
}

template <typename V>
void visit(LossScaleConfig& l, V& v) {
  v.number("init_scale", l.init_scale, "a positive number", positive);
  v.number("growth_factor", l.growth_factor, "a number > 1", greater_than_one);
  v.number("backoff_factor", l.backoff_factor, "a number in (0, 1)", unit_interval_open);
  v.integer("growth_interval", l.growth_interval, 1, "a positive integer");
}

template <typename V>
void visit(ZoneProbeConfig& z, V& v) {
  v.integer("every", z.every, 0, "a non-negative integer (0 = off)");
  v.string("pair", z.pair, "a string", any_string);
  v.enumeration("norm", z.norm);
  v.custom(
      "threshold", z.threshold, "a finite number >= 0, or null for the study's threshold of the precision",
      [](const json& j, auto fail) {
        // null = the study's threshold for the precision, stored as -1.
        if (j.is_null()) return -1.0;
        if (!j.is_number() || !std::isfinite(j.get<double>()) || j.get<double>() < 0) fail();
        return j.get<double>();
      },
      [](double threshold) { return threshold < 0 ? json(nullptr) : json(threshold); });
  v.boolean("classify", z.classify);
  v.validate([&](Section& s) { check_zone_probe_pair(z.pair, s); });
}

template <typename V>
void visit(TrainConfig& t, V& v) {
  v.enumeration("precision", t.precision);
  v.enumeration("half_compute", t.half_compute);
  v.section("optimizer", t.optimizer);
  v.section("schedule", t.schedule);
  v.section("loss_scale", t.loss_scale);
  v.integer("epochs", t.epochs, 1, "a positive integer");
  v.integer("runs", t.runs, 1, "a positive integer");
  v.integer("seed", t.seed, 0, "a non-negative integer");
  v.enumeration("seeding", t.seeding);
  v.integer("stop_after_epoch", t.stop_after_epoch, 0, "a non-negative integer (0 = never)");
  v.section("zone_probe", t.zone_probe);
  v.validate([&](Section& s) { check_optimizer_range(t, s.section("optimizer"), s.section("schedule")); });
}

template <typename V>
void visit(SweepConfig& s, V& v) {
  using Grid = std::vector<std::pair<std::string, std::vector<json>>>;
  v.custom(
      "grid", s.grid, "an object of dotted keys and value lists",
      [](const json& j, auto fail) {
        if (!j.is_object()) fail();
        Grid grid;
        for (const auto& [key, values] : j.items()) {
          bool ok = values.is_array() && !values.empty();
          for (const auto& e : values) ok = ok && !e.is_object() && !e.is_array() && !e.is_null();
          if (!ok) fail("." + key, "a non-empty list of values (numbers, strings or booleans)", &values);
          if (!is_field(key)) {
            const json name = key;
            fail("." + key, "a config key such as nonsmooth.beta (docs/training.md lists them)", &name);
          }
          grid.emplace_back(key, std::vector<json>(values.begin(), values.end()));
        }
        return grid;
      },
      [](const Grid& grid) {
        json out = json::object();
        for (const auto& [key, values] : grid) out[key] = values;
        return out;
      });
}

template <typename V>
void visit(ZonesConfig& z, V& v) {
  v.integer("initializations", z.initializations, 1, "a positive integer");
  v.integer("initializations_fp64", z.initializations_fp64, 1, "a positive integer");
}

template <typename V>
void visit(DistributedConfig& d, V& v) {
  v.enumeration("backend", d.backend);
  v.number("timeout_seconds", d.timeout_seconds, "a positive number of seconds", positive);
  v.number("bucket_mb", d.bucket_mb, "a positive number of MiB", positive);
  v.boolean("sync_batch_norm", d.sync_batch_norm);
}

template <typename V>
void visit(ExpConfig& e, V& v) {
  v.string("output_dir", e.output_dir, "a non-empty directory", non_empty);
  v.string("name", e.name, "a directory name without '/'", directory_name);
  v.boolean("checkpoint", e.checkpoint);
  v.string("device", e.device, "auto, cpu or cuda:N", valid_device);
  v.boolean("deterministic", e.deterministic);
  v.integer("threads", e.threads, 0, "a non-negative integer (0 = default)");
  v.enumeration("log_level", e.log_level);
  v.boolean("tie_stats", e.tie_stats);
  v.number("log_every_seconds", e.log_every_seconds, "a non-negative number of seconds", non_negative);
  v.section("distributed", e.distributed);
}

template <typename V>
void visit(ExperimentConfig& c, V& v) {
  v.section("data", c.data);
  v.section("model", c.model);
  v.section("nonsmooth", c.nonsmooth);
  v.section("train", c.train);
  v.section("sweep", c.sweep);
  v.section("zones", c.zones);
  v.section("exp", c.exp);
}

ExperimentConfig parse(const json& document, const Origins& origins) {
  if (!document.is_object()) {
    throw ConfigError(fmt::format("{}: expected a JSON object at the top level, got {}", origins.fallback,
                                  shown(document)));
  }
  Section root(&document, "", origins);
  ExperimentConfig c;
  Reader reader(root);
  visit(c, reader);
  // `extends` was consumed while loading; a leftover one came in through JSON directly.
  root.find("extends");
  root.finish();
  return c;
}

json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("{}: cannot open the config file", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return parse_json_text(text.str());
  } catch (const NumberOverflow& e) {
    throw ConfigError(fmt::format("{}: {}", path.string(), overflow_message(e.path, e.token)));
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ..." → keep the part after the tag.
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    throw ConfigError(fmt::format("{}: invalid JSON: {}", path.string(), what));
  }
}

void deep_merge(json& base, const json& overlay) {
  for (const auto& [key, value] : overlay.items()) {
    if (value.is_object() && base.contains(key) && base[key].is_object()) {
      deep_merge(base[key], value);
    } else {
      base[key] = value;
    }
  }
}

json load_layers(const fs::path& path, Origins& origins, std::vector<fs::path>& chain) {
  const fs::path canonical = fs::weakly_canonical(path);
  for (const auto& seen : chain) {
    if (seen == canonical)
      throw ConfigError(fmt::format("{}: extends: cycle back to this file", path.string()));
  }
  chain.push_back(canonical);
  json document = read_json_file(path);
  if (!document.is_object()) {
    throw ConfigError(
        fmt::format("{}: expected a JSON object at the top level, got {}", path.string(), shown(document)));
  }
  json merged = json::object();
  if (auto it = document.find("extends"); it != document.end()) {
    if (!it->is_string() || it->get<std::string>().empty()) {
      throw ConfigError(fmt::format("{}: extends: expected a path relative to this file, got {}",
                                    path.string(), shown(*it)));
    }
    fs::path base = path.parent_path() / it->get<std::string>();
    if (!fs::exists(base)) {
      throw ConfigError(fmt::format("{}: extends: file not found: {}", path.string(), base.string()));
    }
    merged = load_layers(base, origins, chain);
    document.erase(it);
  }
  origins.record(document, "", path.string());
  deep_merge(merged, document);
  return merged;
}

}  // namespace

std::pair<std::string, std::string> split_assignment(const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError::in_override(assignment,
                                   "expected key=value with a dotted key, e.g. train.optimizer.lr=0.01");
  }
  return {assignment.substr(0, eq), assignment.substr(eq + 1)};
}

json parse_value(const std::string& text) {
  try {
    return parse_json_text(text);
  } catch (const NumberOverflow& e) {
    throw ConfigError(overflow_message(e.path, e.token));
  } catch (const json::parse_error&) {
    return json(text);
  }
}

void apply_override(json& document, const std::string& assignment) {
  auto [key, raw] = split_assignment(assignment);
  json* node = &document;
  size_t start = 0;
  while (true) {
    auto dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty())
      throw ConfigError::in_override(assignment, fmt::format("empty component in key '{}'", key));
    if (!node->is_object()) {
      throw ConfigError::in_override(assignment,
                                     fmt::format("'{}' is not an object", key.substr(0, start - 1)));
    }
    if (dot == std::string::npos) {
      json value;
      try {
        value = parse_json_text(raw);
      } catch (const NumberOverflow& e) {
        throw ConfigError::in_override(
            assignment,
            overflow_message(key + (e.path.empty() || e.path[0] == '[' ? "" : ".") + e.path, e.token));
      } catch (const json::parse_error&) {
        value = json(raw);
      }
      (*node)[part] = std::move(value);
      return;
    }
    if (!node->contains(part)) (*node)[part] = json::object();
    node = &(*node)[part];
    start = dot + 1;
  }
}

json value_at(const json& document, const std::string& dotted_key) {
  const json* node = &document;
  size_t start = 0;
  while (true) {
    auto dot = dotted_key.find('.', start);
    std::string part = dotted_key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &(*node)[part];
    if (dot == std::string::npos) return *node;
    start = dot + 1;
  }
}

LoadedConfig load_config(const fs::path& path, const std::vector<std::string>& overrides) {
  Origins origins;
  origins.fallback = path.string();
  std::vector<fs::path> chain;
  json merged = load_layers(path, origins, chain);
  for (const auto& assignment : overrides) {
    auto [key, raw] = split_assignment(assignment);
    // `extends` is resolved while the files load, before any override: one set
    // afterwards would be silently ignored.
    if (key == "extends" || key.rfind("extends.", 0) == 0) {
      throw ConfigError::in_override(
          assignment,
          "extends cannot be overridden (the file chain is read before any override "
          "applies); write a config file with \"extends\" instead");
    }
    // Objects the override creates come from it too, so errors about them name it.
    for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
      if (value_at(merged, key.substr(0, dot)).is_null())
        origins.record_override(key.substr(0, dot), assignment);
    }
    apply_override(merged, assignment);
    origins.record_override(key, assignment);
  }
  LoadedConfig loaded;
  loaded.config = parse(merged, origins);
  loaded.json = to_json(loaded.config);
  loaded.source = path;
  return loaded;
}

LoadedConfig config_from_json(const json& document, const std::string& source) {
  Origins origins;
  origins.fallback = source;
  LoadedConfig loaded;
  loaded.config = parse(document, origins);
  loaded.json = to_json(loaded.config);
  return loaded;
}

json to_json(const ExperimentConfig& c) {
  ExperimentConfig copy = c;  // the field tables take the struct by reference
  json out = json::object();
  Writer writer(out);
  visit(copy, writer);
  return out;
}

const std::vector<FieldInfo>& schema_fields() {
  static const std::vector<FieldInfo> fields = [] {
    std::vector<FieldInfo> out;
    ExperimentConfig defaults;
    KeyLister lister(out, "");
    visit(defaults, lister);
    const json written = to_json(defaults);
    for (auto& field : out) field.default_value = value_at(written, field.key);
    return out;
  }();
  return fields;
}

bool is_field(const std::string& key) {
  const auto& fields = schema_fields();
  return std::any_of(fields.begin(), fields.end(), [&](const FieldInfo& f) { return f.key == key; });
}

void set_field(ExperimentConfig& config, const std::string& key, const json& value,
               const std::string& source) {
  Origins origins;
  origins.fallback = source;
  Setter setter(key, value, origins);
  visit(config, setter);
  if (!setter.found())
    throw ConfigError(fmt::format("{}: {}: not a config key (docs/training.md lists them)", source, key));
}

}  // namespace tiebreak::config
