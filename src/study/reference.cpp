#include "tiebreak/study/reference.h"

#include "tiebreak/core/text_file.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <cmath>
#include <sstream>
#include <tuple>

namespace tiebreak::study {

namespace detail {
extern const char* const kStudyResultsCsv;
extern const char* const kLearningRatesCsv;
}  // namespace detail

namespace {

/// A CSV text as header + rows; a row with the wrong number of fields is an error naming `source`.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> lines;
  std::string source;

  size_t column(const std::string& name) const {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    TORCH_CHECK(false, source, ": expected a column '", name, "' in the header");
  }
};

Table parse_table(const std::string& text, const std::string& source) {
  Table t;
  t.source = source;
  std::istringstream in(text);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::string field;
    std::istringstream ls(line);
    while (std::getline(ls, field, ',')) fields.push_back(field);
    if (line.back() == ',') fields.emplace_back();
    if (t.header.empty()) {
      t.header = std::move(fields);
      continue;
    }
    TORCH_CHECK(fields.size() == t.header.size(), source, ": line ", number, ": expected ", t.header.size(),
                " fields, got ", fields.size());
    t.rows.push_back(std::move(fields));
    t.lines.push_back(number);
  }
  TORCH_CHECK(!t.header.empty(), source, ": empty CSV");
  return t;
}

double number(const Table& t, size_t row, const std::string& name) {
  const std::string& text = t.rows[row][t.column(name)];
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  TORCH_CHECK(used == text.size() && !text.empty(), t.source, ": line ", t.lines[row], ": column ", name,
              ": expected a number, got '", text, "'");
  return value;
}

bool boolean(const Table& t, size_t row, const std::string& name) {
  const std::string& text = t.rows[row][t.column(name)];
  if (text == "true" || text == "True") return true;
  if (text == "false" || text == "False") return false;
  TORCH_CHECK(false, t.source, ": line ", t.lines[row], ": column ", name, ": expected true or false, got '",
              text, "'");
}

StudyKey key_of(const Table& t, size_t row) {
  StudyKey k;
  k.dataset = t.rows[row][t.column("dataset")];
  k.model = t.rows[row][t.column("model")];
  k.batch_norm = boolean(t, row, "batch_norm");
  k.optimizer = t.rows[row][t.column("optimizer")];
  k.bits = static_cast<int>(number(t, row, "bits"));
  k.beta = number(t, row, "beta");
  return k;
}

bool close(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)); }

}  // namespace

std::string StudyKey::configuration() const {
  return fmt::format("{} {} {} {} {} bits", dataset, model, batch_norm ? "BN" : "no BN", optimizer, bits);
}

bool StudyKey::operator<(const StudyKey& o) const {
  return std::tie(dataset, model, batch_norm, optimizer, bits, beta) <
         std::tie(o.dataset, o.model, o.batch_norm, o.optimizer, o.bits, o.beta);
}

bool StudyKey::operator==(const StudyKey& o) const { return !(*this < o) && !(o < *this); }

StudyReference StudyReference::parse(const std::string& results_csv, const std::string& source,
                                     const std::string& learning_rates_csv, const std::string& rates_source) {
  StudyReference ref;
  ref.source_ = source;
  const Table t = parse_table(results_csv, source);
  for (size_t i = 0; i < t.rows.size(); ++i) {
    StudyResult r;
    r.key = key_of(t, i);
    r.runs = static_cast<int64_t>(number(t, i, "runs"));
    r.epochs = static_cast<int64_t>(number(t, i, "epochs"));
    r.epoch0_mean = number(t, i, "epoch0_test_acc_mean");
    r.epoch0_std = number(t, i, "epoch0_test_acc_std");
    r.epoch1_mean = number(t, i, "epoch1_test_acc_mean");
    r.final_mean = number(t, i, "final_test_acc_mean");
    r.final_std = number(t, i, "final_test_acc_std");
    TORCH_CHECK(r.runs >= 1 && r.epochs >= 1, source, ": line ", t.lines[i],
                ": expected runs and epochs >= 1, got ", r.runs, " and ", r.epochs);
    ref.results_.push_back(r);
  }
  if (!learning_rates_csv.empty()) {
    const Table lr = parse_table(learning_rates_csv, rates_source);
    for (size_t i = 0; i < lr.rows.size(); ++i) {
      StudyKey k = key_of(lr, i);
      if (k.beta != 0) continue;  // every β trained with the β = 0 rate
      ref.learning_rates_[k] = number(lr, i, "lr");
    }
  }
  return ref;
}

StudyReference StudyReference::builtin() {
  return parse(detail::kStudyResultsCsv, "reference/study/study_results.csv (built in)",
               detail::kLearningRatesCsv, "reference/study/learning_rates.csv (built in)");
}

StudyReference StudyReference::from_csv(const std::filesystem::path& results,
                                        const std::optional<std::filesystem::path>& learning_rates) {
  return parse(tiebreak::read_text(results), results.string(),
               learning_rates ? tiebreak::read_text(*learning_rates) : std::string(),
               learning_rates ? learning_rates->string() : std::string());
}

std::optional<StudyResult> StudyReference::result(const StudyKey& key) const {
  for (const auto& r : results_) {
    const auto& k = r.key;
    if (k.dataset == key.dataset && k.model == key.model && k.batch_norm == key.batch_norm &&
        k.optimizer == key.optimizer && k.bits == key.bits && close(k.beta, key.beta))
      return r;
  }
  return std::nullopt;
}

std::optional<double> StudyReference::learning_rate(const StudyKey& key) const {
  StudyKey k = key;
  k.beta = 0;
  auto it = learning_rates_.find(k);
  if (it == learning_rates_.end()) return std::nullopt;
  return it->second;
}

std::optional<double> class0_share(const std::string& dataset) {
  if (dataset == "mnist") return 980.0 / 10000;
  if (dataset == "cifar10") return 1000.0 / 10000;
  if (dataset == "svhn") return 1744.0 / 26032;
  return std::nullopt;
}

KeyOrReason study_key(const config::ExperimentConfig& c) {
  KeyOrReason out;
  StudyKey k;
  if (c.data.dataset == "mnist") {
    k.dataset = "mnist";
  } else if (c.data.dataset == "cifar-10") {
    k.dataset = "cifar10";
  } else if (c.data.dataset == "svhn") {
    k.dataset = "svhn";
  } else {
    out.reason = fmt::format(
        "dataset {}: the study trained mnist, cifar-10 and svhn (and ImageNet, without "
        "published per-configuration numbers)",
        c.data.dataset);
    return out;
  }
  if (c.model.name == "lenet5") {
    k.model = "lenet";
  } else if (c.model.name == "vgg11" || c.model.name == "resnet18" || c.model.name == "densenet121") {
    k.model = c.model.name;
  } else {
    out.reason =
        fmt::format("model {}: the study trained lenet5, vgg11, resnet18 and densenet121", c.model.name);
    return out;
  }
  k.batch_norm = c.model.batch_norm;
  if (c.train.optimizer.name == config::OptimizerKind::Sgd) {
    k.optimizer = "sgd";
  } else if (c.train.optimizer.name == config::OptimizerKind::Adam) {
    k.optimizer = "adam";
  } else {
    out.reason = fmt::format("optimizer {}: the study trained sgd and adam",
                             config::to_string(c.train.optimizer.name));
    return out;
  }
  switch (c.train.precision) {
    case config::Precision::Fp16:
      k.bits = 16;
      break;
    case config::Precision::AmpFp16:
      k.bits = 24;
      break;
    case config::Precision::Fp32:
      k.bits = 32;
      break;
    default:
      out.reason = fmt::format("precision {}: the study trained fp16, amp_fp16 (its 24 bits) and fp32",
                               config::to_string(c.train.precision));
      return out;
  }
  k.beta = c.nonsmooth.beta;
  out.key = k;
  return out;
}

std::vector<std::string> departures(const config::ExperimentConfig& c, const StudyKey& key,
                                    const StudyReference& reference) {
  std::vector<std::string> out;
  auto differ = [&](bool different, const std::string& what) {
    if (different) out.push_back(what);
  };
  const auto& n = c.nonsmooth;
  differ(n.pool != "maxpool", fmt::format("pool {}, the study's is maxpool", n.pool));
  differ(n.formulation != "mixture",
         fmt::format("formulation {}, the study's is mixture (β·MinNormPool + (1−β)·NativePool)",
                     n.formulation));
  differ(n.relu_alpha != 0, fmt::format("relu_alpha {}, the study's is 0", n.relu_alpha));

  const auto& m = c.model;
  std::string init = "pytorch_default";
  if (key.model == "resnet18") init = "torchvision_resnet";
  if (key.model == "densenet121") init = "torchvision_densenet";
  differ(m.init != init, fmt::format("model.init {}, the study's is {}", m.init, init));
  if (key.model == "densenet121")
    differ(m.variant != "study", "model.variant torchvision, the study built its own");
  if (key.model == "resnet18" || key.model == "densenet121") {
    const std::string stem = key.model == "resnet18" ? "cifar" : "imagenet";
    differ(m.stem != stem, fmt::format("model.stem {}, the study's is {}", m.stem, stem));
    differ(m.stem_pool_kernel != 2 || m.stem_pool_stride != 2 || m.stem_pool_padding != 0,
           fmt::format("stem pool {}/{}/{}, the study's is 2/2/0", m.stem_pool_kernel, m.stem_pool_stride,
                       m.stem_pool_padding));
  }

  const auto& d = c.data;
  differ(d.batch_size != 128, fmt::format("batch size {}, the study's is 128", d.batch_size));
  differ(d.train_limit > 0, fmt::format("train subset: data.train_limit {}", d.train_limit));
  differ(d.test_limit > 0, fmt::format("test subset: data.test_limit {}", d.test_limit));
  differ(!d.shuffle, "training order unshuffled, the study shuffled");
  differ(!d.test_files.empty(), "test files overridden (data.files.test)");
  if (key.dataset == "svhn") {
    differ(
        d.svhn_extra || d.train_files != std::vector<std::string>{"extra_32x32.mat"},
        "training split: the study trained on SVHN's extra split alone (data.files.train [extra_32x32.mat])");
  } else {
    differ(!d.train_files.empty(), "training files overridden (data.files.train): a subset");
  }
  if (key.dataset == "cifar10")
    differ(d.augmentation != "standard", "no augmentation, the study's crops and flips");

  const auto& o = c.train.optimizer;
  if (key.optimizer == "sgd") {
    differ(o.momentum != 0.9 || o.weight_decay != 5e-4 || o.nesterov,
           fmt::format("SGD momentum {} weight decay {}{}, the study's 0.9 and 5e-4", o.momentum,
                       o.weight_decay, o.nesterov ? " Nesterov" : ""));
  } else {
    differ(o.betas[0] != 0.9 || o.betas[1] != 0.999 || o.eps != 1e-8 || o.weight_decay != 0,
           "Adam settings differ from PyTorch's defaults the study used");
  }
  if (auto lr = reference.learning_rate(key)) {
    differ(!close(o.lr, *lr), fmt::format("learning rate {:.6g}, the study's {:.6g}", o.lr, *lr));
  }
  differ(c.train.schedule.name != config::ScheduleKind::Cosine,
         fmt::format("schedule {}, the study's is cosine", config::to_string(c.train.schedule.name)));
  return out;
}

std::optional<int64_t> estimated_diverged_runs(double mean, double std, int64_t runs, double class0) {
  if (runs <= 0) return std::nullopt;
  const double gap = mean - class0;
  if (std::abs(gap) <= 5e-4 && (std::isnan(std) || std <= 5e-4)) return runs;
  if (std::isnan(std)) return std::nullopt;
  if (runs == 1) return 0;
  // Two values: class0 for k runs, class0 + d for the others; p = (runs − k) / runs. mean − class0 = p·d and
  // std² = runs/(runs − 1)·p(1 − p)·d², so (1 − p)/p = std²·(runs − 1) / (runs·gap²).
  const double r = std * std * static_cast<double>(runs - 1) / (static_cast<double>(runs) * gap * gap);
  const auto k = static_cast<int64_t>(std::llround(static_cast<double>(runs) * r / (1.0 + r)));
  if (k == 0) return 0;
  // The other runs' accuracy the mixture implies, class0 + gap / p: close to class0 (a slow first epoch),
  // the spread is ordinary and the two-point model says nothing.
  const double healthy = class0 + gap * (1.0 + r);
  if (healthy - class0 < 0.2) return std::nullopt;
  return k;
}

}  // namespace tiebreak::study
