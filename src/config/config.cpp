#include "tiebreak/config/config.h"

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

/// Which file (or "--set") last gave each JSON path its value, so that an error
/// found after merging still names the file the bad value came from.
struct Origins {
  std::map<std::string, std::string> by_path;
  std::string fallback;

  const std::string& of(std::string path) const {
    while (true) {
      if (auto it = by_path.find(path); it != by_path.end()) return it->second;
      auto dot = path.rfind('.');
      if (dot == std::string::npos) break;
      path.resize(dot);
    }
    if (auto it = by_path.find(path); it != by_path.end()) return it->second;
    return fallback;
  }

  void record(const json& node, const std::string& path, const std::string& source) {
    if (!path.empty()) by_path[path] = source;
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
    throw ConfigError(fmt::format("{}: {}: {}, got {}", origins_.of(path), path, expected, shown(got)));
  }
  [[noreturn]] void fail_key(const std::string& key, const std::string& message) const {
    const std::string path = join(path_, key);
    throw ConfigError(fmt::format("{}: {}: {}", origins_.of(path), path, message));
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

template <typename E>
struct Names {
  std::vector<std::pair<E, std::string>> items;
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [e, n] : items) out.push_back(n);
    return out;
  }
  E parse(const std::string& s) const {
    for (const auto& [e, n] : items)
      if (n == s) return e;
    throw std::logic_error("unvalidated enum name " + s);
  }
  const std::string& name(E e) const {
    for (const auto& [k, n] : items)
      if (k == e) return n;
    throw std::logic_error("enum without a name");
  }
};

const Names<Precision> kPrecisions{{{Precision::Fp16, "fp16"},
                                    {Precision::Fp32, "fp32"},
                                    {Precision::Fp64, "fp64"},
                                    {Precision::Bf16, "bf16"},
                                    {Precision::AmpFp16, "amp_fp16"},
                                    {Precision::AmpBf16, "amp_bf16"}}};
const Names<HalfCompute> kHalfComputes{
    {{HalfCompute::Fp32Accumulate, "fp32_accumulate"}, {HalfCompute::Native, "native"}}};
const Names<OptimizerKind> kOptimizers{{{OptimizerKind::Sgd, "sgd"},
                                        {OptimizerKind::Adam, "adam"},
                                        {OptimizerKind::AdamW, "adamw"},
                                        {OptimizerKind::INNAprop, "innaprop"}}};
const Names<ScheduleKind> kSchedules{
    {{ScheduleKind::Constant, "constant"}, {ScheduleKind::Cosine, "cosine"}, {ScheduleKind::Step, "step"}}};

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
  static const std::vector<std::string> keys{"nonsmooth.beta", "nonsmooth.formulation",
                                             "nonsmooth.grad_at_zero", "nonsmooth.relu_alpha"};
  if (eq == std::string::npos || std::find(keys.begin(), keys.end(), key) == keys.end())
    section.fail_key("pair",
                     fmt::format("expected KEY=A,B with KEY one of nonsmooth.beta, nonsmooth.formulation, "
                                 "nonsmooth.grad_at_zero, nonsmooth.relu_alpha (e.g. nonsmooth.beta=0,1), "
                                 "got \"{}\"",
                                 text));
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
    if (formulation) return v == "pure" || v == "mixture";
    try {
      const json parsed = parse_value(v);
      return parsed.is_number() && std::isfinite(parsed.get<double>());
    } catch (const ConfigError&) {
      return false;  // beyond a double's range
    }
  };
  if (parts.size() != 2 || !valid(parts[0]) || !valid(parts[1]) || parts[0] == parts[1])
    section.fail_key("pair",
                     fmt::format("expected two different values of {} ({} or run) separated by a comma, "
                                 "got \"{}\"",
                                 key, formulation ? "pure, mixture" : "finite numbers", values));
}

ExperimentConfig parse(const json& document, const Origins& origins) {
  Section root(&document, "", origins);
  if (!document.is_object()) {
    throw ConfigError(fmt::format("{}: expected a JSON object at the top level, got {}", origins.fallback,
                                  shown(document)));
  }
  ExperimentConfig c;

  {
    Section s = root.section("data");
    auto& d = c.data;
    d.dataset =
        s.string("dataset", d.dataset, "a non-empty dataset name", [](auto& v) { return !v.empty(); });
    d.root = s.string("root", d.root);
    d.batch_size = s.integer("batch_size", d.batch_size, 1, "a positive integer");
    d.test_batch_size = s.integer("test_batch_size", d.test_batch_size, 1, "a positive integer");
    d.shuffle = s.boolean("shuffle", d.shuffle);
    d.augmentation = s.choice("augmentation", d.augmentation, {"standard", "none"});
    d.svhn_extra = s.boolean("svhn_extra", d.svhn_extra);
    d.train_limit = s.integer("train_limit", d.train_limit, 0, "a non-negative integer (0 = all)");
    d.test_limit = s.integer("test_limit", d.test_limit, 0, "a non-negative integer (0 = all)");
    d.num_workers = s.integer("num_workers", d.num_workers, 1, "a positive integer");
    d.crop_size = s.integer("crop_size", d.crop_size, 1, "a positive integer");
    d.resize_size = s.integer("resize_size", d.resize_size, 1, "a positive integer");
    {
      Section f = s.section("files");
      d.train_files = f.strings("train", d.train_files);
      d.test_files = f.strings("test", d.test_files);
      f.finish();
    }
    {
      Section syn = s.section("synthetic");
      d.synthetic_train_size = syn.integer("train_size", d.synthetic_train_size, 1, "a positive integer");
      d.synthetic_test_size = syn.integer("test_size", d.synthetic_test_size, 1, "a positive integer");
      d.synthetic_classes = syn.integer("classes", d.synthetic_classes, 2, "an integer >= 2");
      if (const json* shape = syn.find("shape")) {
        bool ok = shape->is_array() && shape->size() == 3;
        for (const auto& v : *shape) ok = ok && v.is_number_integer() && v.get<int64_t>() > 0;
        if (!ok)
          syn.fail("data.synthetic.shape", "expected [channels, height, width] as positive integers", *shape);
        d.synthetic_shape = shape->get<std::vector<int64_t>>();
      }
      syn.finish();
    }
    s.finish();
  }
  {
    Section s = root.section("model");
    auto& m = c.model;
    m.name = s.string("name", m.name, "a non-empty model name", [](auto& v) { return !v.empty(); });
    m.batch_norm = s.boolean("batch_norm", m.batch_norm);
    m.init = s.choice("init", m.init,
                      {"pytorch_default", "kaiming", "torchvision_resnet", "torchvision_densenet"});
    m.variant = s.choice("variant", m.variant, {"torchvision", "study"});
    m.stem = s.choice("stem", m.stem, {"cifar", "imagenet"});
    {
      Section p = s.section("stem_pool");
      m.stem_pool_kernel = p.integer("kernel", m.stem_pool_kernel, 1, "a positive integer");
      m.stem_pool_stride = p.integer("stride", m.stem_pool_stride, 1, "a positive integer");
      m.stem_pool_padding = p.integer("padding", m.stem_pool_padding, 0, "a non-negative integer");
      if (2 * m.stem_pool_padding > m.stem_pool_kernel) {
        p.fail_key("padding", fmt::format("expected at most half the kernel ({}), got {}", m.stem_pool_kernel,
                                          m.stem_pool_padding));
      }
      p.finish();
    }
    s.finish();
  }
  {
    Section s = root.section("nonsmooth");
    auto& n = c.nonsmooth;
    n.pool = s.choice("pool", n.pool, {"maxpool", "normpool"});
    n.beta = s.number("beta", n.beta, "a finite number");
    n.formulation = s.choice("formulation", n.formulation, {"pure", "mixture"});
    n.grad_at_zero = s.number("grad_at_zero", n.grad_at_zero, "a finite number");
    n.relu_alpha = s.number("relu_alpha", n.relu_alpha, "a finite number");
    s.finish();
  }
  {
    Section s = root.section("train");
    auto& t = c.train;
    t.precision = kPrecisions.parse(s.choice("precision", "fp32", kPrecisions.names()));
    t.half_compute = kHalfComputes.parse(s.choice("half_compute", "fp32_accumulate", kHalfComputes.names()));
    {
      Section o = s.section("optimizer");
      auto& opt = t.optimizer;
      opt.name = kOptimizers.parse(o.choice("name", "sgd", kOptimizers.names()));
      const bool adaptive = opt.name != OptimizerKind::Sgd;
      const bool decoupled = opt.name == OptimizerKind::AdamW || opt.name == OptimizerKind::INNAprop;
      opt.lr = o.number("lr", adaptive ? 1e-3 : 0.01, "a positive number", positive);
      opt.momentum = o.number("momentum", 0.0, "a number in [0, 1)", unit_open);
      opt.weight_decay =
          o.number("weight_decay", decoupled ? 0.01 : 0.0, "a non-negative number", non_negative);
      opt.nesterov = o.boolean("nesterov", false);
      if (const json* betas = o.find("betas")) {
        bool ok = betas->is_array() && betas->size() == 2 && (*betas)[0].is_number() &&
                  (*betas)[1].is_number() && unit_open((*betas)[0].get<double>()) &&
                  unit_open((*betas)[1].get<double>());
        if (!ok) o.fail("train.optimizer.betas", "expected two numbers in [0, 1)", *betas);
        opt.betas = {(*betas)[0].get<double>(), (*betas)[1].get<double>()};
      }
      opt.eps = o.number("eps", opt.eps, "a non-negative number", non_negative);
      opt.alpha = o.number("alpha", opt.alpha, "a non-negative number", non_negative);
      opt.beta = o.number("beta", opt.beta, "a positive number", positive);
      opt.sigma = o.number("sigma", opt.sigma, "a number in [0, 1)", unit_open);
      if (opt.nesterov && (opt.name != OptimizerKind::Sgd || opt.momentum <= 0)) {
        o.fail_key("nesterov", "Nesterov momentum needs optimizer sgd with momentum > 0");
      }
      if (opt.name == OptimizerKind::INNAprop && opt.lr >= opt.beta) {
        o.fail_key("lr", fmt::format("expected less than train.optimizer.beta ({}) for innaprop, got {}",
                                     opt.beta, opt.lr));
      }
      o.finish();
    }
    {
      Section sc = s.section("schedule");
      auto& sch = t.schedule;
      sch.name = kSchedules.parse(sc.choice("name", "constant", kSchedules.names()));
      sch.step_size = sc.integer("step_size", sch.step_size, 1, "a positive integer");
      sch.gamma = sc.number("gamma", sch.gamma, "a positive number", positive);
      sc.finish();
    }
    {
      Section ls = s.section("loss_scale");
      auto& l = t.loss_scale;
      l.init_scale = ls.number("init_scale", l.init_scale, "a positive number", positive);
      l.growth_factor =
          ls.number("growth_factor", l.growth_factor, "a number > 1", [](double v) { return v > 1; });
      l.backoff_factor = ls.number("backoff_factor", l.backoff_factor, "a number in (0, 1)",
                                   [](double v) { return v > 0 && v < 1; });
      l.growth_interval = ls.integer("growth_interval", l.growth_interval, 1, "a positive integer");
      ls.finish();
    }
    t.epochs = s.integer("epochs", t.epochs, 1, "a positive integer");
    t.runs = s.integer("runs", t.runs, 1, "a positive integer");
    t.seed = static_cast<uint64_t>(s.integer("seed", 0, 0, "a non-negative integer"));
    t.seeding = s.choice("seeding", t.seeding, {"paired", "independent"});
    t.stop_after_epoch = s.integer("stop_after_epoch", 0, 0, "a non-negative integer (0 = never)");
    {
      Section zp = s.section("zone_probe");
      auto& z = t.zone_probe;
      z.every = zp.integer("every", z.every, 0, "a non-negative integer (0 = off)");
      z.pair = zp.string("pair", z.pair);
      check_zone_probe_pair(z.pair, zp);
      z.norm = zp.choice("norm", z.norm, {"linf", "l1"});
      if (const json* v = zp.find("threshold")) {
        // null (or absent) = the study's threshold for the precision.
        if (!v->is_null()) {
          if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < 0)
            zp.fail("train.zone_probe.threshold",
                    "expected a finite number >= 0, or null for the study's threshold of the precision", *v);
          z.threshold = v->get<double>();
        }
      }
      z.classify = zp.boolean("classify", z.classify);
      zp.finish();
    }
    check_optimizer_range(t, s.section("optimizer"), s.section("schedule"));
    s.finish();
  }
  {
    Section s = root.section("sweep");
    if (const json* grid = s.find("grid")) {
      if (!grid->is_object())
        s.fail("sweep.grid", "expected an object of dotted keys and value lists", *grid);
      for (const auto& [key, values] : grid->items()) {
        const std::string path = "sweep.grid." + key;
        bool ok = values.is_array() && !values.empty();
        for (const auto& v : values) ok = ok && !v.is_object() && !v.is_array() && !v.is_null();
        if (!ok) s.fail(path, "expected a non-empty list of values (numbers, strings or booleans)", values);
        if (key.empty() || key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos)
          s.fail(path, "expected a dotted config key such as nonsmooth.beta", key);
        c.sweep.grid.emplace_back(key, values.get<std::vector<json>>());
      }
    }
    s.finish();
  }
  {
    Section s = root.section("zones");
    auto& z = c.zones;
    z.initializations = s.integer("initializations", z.initializations, 1, "a positive integer");
    z.initializations_fp64 =
        s.integer("initializations_fp64", z.initializations_fp64, 1, "a positive integer");
    s.finish();
  }
  {
    Section s = root.section("exp");
    auto& e = c.exp;
    e.output_dir =
        s.string("output_dir", e.output_dir, "a non-empty directory", [](auto& v) { return !v.empty(); });
    e.name = s.string("name", e.name, "a directory name without '/'",
                      [](auto& v) { return v.find('/') == std::string::npos && v != "." && v != ".."; });
    e.checkpoint = s.boolean("checkpoint", e.checkpoint);
    e.device = s.string("device", e.device, "auto, cpu or cuda:N", valid_device);
    e.deterministic = s.boolean("deterministic", e.deterministic);
    e.threads = s.integer("threads", e.threads, 0, "a non-negative integer (0 = default)");
    e.log_level = s.choice("log_level", e.log_level, {"trace", "debug", "info", "warn", "error"});
    e.tie_stats = s.boolean("tie_stats", e.tie_stats);
    e.log_every_seconds =
        s.number("log_every_seconds", e.log_every_seconds, "a non-negative number of seconds", non_negative);
    {
      Section ds = s.section("distributed");
      auto& d = e.distributed;
      d.backend = ds.choice("backend", d.backend, {"auto", "gloo", "nccl"});
      d.timeout_seconds = ds.number("timeout_seconds", d.timeout_seconds, "a positive number of seconds",
                                    [](double v) { return v > 0; });
      d.bucket_mb =
          ds.number("bucket_mb", d.bucket_mb, "a positive number of MiB", [](double v) { return v > 0; });
      d.sync_batch_norm = ds.boolean("sync_batch_norm", d.sync_batch_norm);
      ds.finish();
    }
    s.finish();
  }
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

std::string to_string(Precision precision) { return kPrecisions.name(precision); }
std::string to_string(OptimizerKind kind) { return kOptimizers.name(kind); }
std::string to_string(ScheduleKind kind) { return kSchedules.name(kind); }
std::string to_string(HalfCompute mode) { return kHalfComputes.name(mode); }

int precision_bits(Precision precision) {
  switch (precision) {
    case Precision::Fp16:
      return 16;
    case Precision::Bf16:
      return 16;
    case Precision::AmpFp16:
      return 24;
    case Precision::AmpBf16:
      return 24;
    case Precision::Fp32:
      return 32;
    case Precision::Fp64:
      return 64;
  }
  return 0;
}

std::pair<std::string, std::string> split_assignment(const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError(fmt::format(
        "--set {}: expected key=value with a dotted key, e.g. train.optimizer.lr=0.01", assignment));
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
      throw ConfigError(fmt::format("--set {}: empty component in key '{}'", assignment, key));
    if (!node->is_object()) {
      throw ConfigError(fmt::format("--set {}: '{}' is not an object", assignment, key.substr(0, start - 1)));
    }
    if (dot == std::string::npos) {
      json value;
      try {
        value = parse_json_text(raw);
      } catch (const NumberOverflow& e) {
        throw ConfigError(fmt::format(
            "--set {}: {}", assignment,
            overflow_message(key + (e.path.empty() || e.path[0] == '[' ? "" : ".") + e.path, e.token)));
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
      throw ConfigError(fmt::format(
          "--set {}: extends cannot be overridden (the file chain is read before --set applies); write a "
          "config file with \"extends\" instead",
          assignment));
    }
    // Objects the override creates come from it too, so errors about them name it.
    for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
      if (value_at(merged, key.substr(0, dot)).is_null())
        origins.by_path[key.substr(0, dot)] = "--set " + assignment;
    }
    apply_override(merged, assignment);
    origins.by_path[key] = "--set " + assignment;
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
  const auto& o = c.train.optimizer;
  return {
      {"data",
       {{"dataset", c.data.dataset},
        {"root", c.data.root},
        {"batch_size", c.data.batch_size},
        {"test_batch_size", c.data.test_batch_size},
        {"shuffle", c.data.shuffle},
        {"augmentation", c.data.augmentation},
        {"svhn_extra", c.data.svhn_extra},
        {"train_limit", c.data.train_limit},
        {"test_limit", c.data.test_limit},
        {"num_workers", c.data.num_workers},
        {"crop_size", c.data.crop_size},
        {"resize_size", c.data.resize_size},
        {"files", {{"train", c.data.train_files}, {"test", c.data.test_files}}},
        {"synthetic",
         {{"train_size", c.data.synthetic_train_size},
          {"test_size", c.data.synthetic_test_size},
          {"classes", c.data.synthetic_classes},
          {"shape", c.data.synthetic_shape}}}}},
      {"model",
       {{"name", c.model.name},
        {"batch_norm", c.model.batch_norm},
        {"init", c.model.init},
        {"variant", c.model.variant},
        {"stem", c.model.stem},
        {"stem_pool",
         {{"kernel", c.model.stem_pool_kernel},
          {"stride", c.model.stem_pool_stride},
          {"padding", c.model.stem_pool_padding}}}}},
      {"nonsmooth",
       {{"pool", c.nonsmooth.pool},
        {"beta", c.nonsmooth.beta},
        {"formulation", c.nonsmooth.formulation},
        {"grad_at_zero", c.nonsmooth.grad_at_zero},
        {"relu_alpha", c.nonsmooth.relu_alpha}}},
      {"train",
       {{"precision", to_string(c.train.precision)},
        {"half_compute", to_string(c.train.half_compute)},
        {"optimizer",
         {{"name", to_string(o.name)},
          {"lr", o.lr},
          {"momentum", o.momentum},
          {"weight_decay", o.weight_decay},
          {"nesterov", o.nesterov},
          {"betas", {o.betas[0], o.betas[1]}},
          {"eps", o.eps},
          {"alpha", o.alpha},
          {"beta", o.beta},
          {"sigma", o.sigma}}},
        {"schedule",
         {{"name", to_string(c.train.schedule.name)},
          {"step_size", c.train.schedule.step_size},
          {"gamma", c.train.schedule.gamma}}},
        {"loss_scale",
         {{"init_scale", c.train.loss_scale.init_scale},
          {"growth_factor", c.train.loss_scale.growth_factor},
          {"backoff_factor", c.train.loss_scale.backoff_factor},
          {"growth_interval", c.train.loss_scale.growth_interval}}},
        {"epochs", c.train.epochs},
        {"runs", c.train.runs},
        {"seed", c.train.seed},
        {"seeding", c.train.seeding},
        {"stop_after_epoch", c.train.stop_after_epoch},
        {"zone_probe",
         {{"every", c.train.zone_probe.every},
          {"pair", c.train.zone_probe.pair},
          {"norm", c.train.zone_probe.norm},
          {"threshold",
           c.train.zone_probe.threshold < 0 ? json(nullptr) : json(c.train.zone_probe.threshold)},
          {"classify", c.train.zone_probe.classify}}}}},
      {"sweep",
       {{"grid",
         [&] {
           json grid = json::object();
           for (const auto& [key, values] : c.sweep.grid) grid[key] = values;
           return grid;
         }()}}},
      {"zones",
       {{"initializations", c.zones.initializations},
        {"initializations_fp64", c.zones.initializations_fp64}}},
      {"exp",
       {{"output_dir", c.exp.output_dir},
        {"name", c.exp.name},
        {"checkpoint", c.exp.checkpoint},
        {"device", c.exp.device},
        {"deterministic", c.exp.deterministic},
        {"threads", c.exp.threads},
        {"log_level", c.exp.log_level},
        {"tie_stats", c.exp.tie_stats},
        {"log_every_seconds", c.exp.log_every_seconds},
        {"distributed",
         {{"backend", c.exp.distributed.backend},
          {"timeout_seconds", c.exp.distributed.timeout_seconds},
          {"bucket_mb", c.exp.distributed.bucket_mb},
          {"sync_batch_norm", c.exp.distributed.sync_batch_norm}}}}},
  };
}

}  // namespace tiebreak::config
