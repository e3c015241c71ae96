#pragma once

#include "tiebreak/core/enum_names.h"
#include "tiebreak/models/options.h"
#include "tiebreak/nn/nonsmooth.h"
#include "tiebreak/ops/formulation_names.h"
#include "tiebreak/zones/discrepancy_norm.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tiebreak::config {

/// A configuration that cannot be used: the message is one line naming the file
/// (or the override), the JSON path and what was expected, e.g.
/// `configs/x.json: train.optimizer.lr: expected a positive number, got -1` or
/// `override train.optimizer.lr=-1: train.optimizer.lr: expected a positive number, got -1`.
/// A front end names the flag an override came from with `override_assignment()` and `detail()`
/// (the CLI prints `--set train.optimizer.lr=-1: ...`).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;

  /// An error in what the override `assignment` ("KEY=VALUE", see load_config) gave:
  /// "override KEY=VALUE: DETAIL".
  static ConfigError in_override(const std::string& assignment, const std::string& detail) {
    ConfigError error("override " + assignment + ": " + detail);
    error.assignment_ = assignment;
    error.detail_ = detail;
    return error;
  }
  /// The override the bad value came from, "KEY=VALUE"; empty when it came from a file.
  const std::string& override_assignment() const { return assignment_; }
  /// For an override's error, what is wrong without the "override KEY=VALUE: " that names it.
  const std::string& detail() const { return detail_; }

 private:
  std::string assignment_;
  std::string detail_;
};

/// Numeric formats a run can train in. `Fp16`/`Bf16`/`Fp64` put the whole model
/// and its inputs in that type (the study's "16 bits": no master weights, no
/// loss scaling); `AmpFp16`/`AmpBf16` keep fp32 weights and autocast the compute
/// (`AmpFp16` with dynamic loss scaling: the study's "24 bits").
enum class Precision { Fp16, Fp32, Fp64, Bf16, AmpFp16, AmpBf16 };
enum class OptimizerKind { Sgd, Adam, AdamW, INNAprop };
enum class ScheduleKind { Constant, Cosine, Step };
/// How convolution, linear/matmul and batch norm compute on 16-bit (Half,
/// BFloat16) CPU tensors; see tiebreak::precision::Fp32AccumulateGuard.
/// `Fp32Accumulate`: in float on the 16-bit values, the result (forward and
/// each backward product) rounded once to the 16-bit type; `Native`: LibTorch's
/// own 16-bit CPU kernels; `Auto` (default): `Fp32Accumulate`, except that
/// BFloat16 convolution and matrix products run LibTorch's oneDNN kernels on a
/// CPU with BF16 dot-product units, which compute them alike and faster (see
/// train::choose_half_compute). CUDA tensors always use the native kernels.
enum class HalfCompute { Auto, Fp32Accumulate, Native };

/// `data.augmentation`: "standard" is the dataset's own training augmentation (CIFAR: random crop with
/// padding 4 + horizontal flip; ImageNet: random resized crop + flip; none for the MNIST family and SVHN),
/// "none" none.
enum class Augmentation { Standard, None };
/// `train.seeding` (see TrainConfig::seeding).
enum class Seeding { Paired, Independent };
/// `exp.log_level`: spdlog's level names.
enum class LogLevel { Trace, Debug, Info, Warn, Error };
/// `exp.distributed.backend`: "auto" is nccl on CUDA devices and gloo on the CPU.
enum class DistributedBackend { Auto, Gloo, Nccl };

/// The names configs, files and flags spell each enum with (tiebreak::core::enum_name and parse_enum read
/// them; the order is the order errors and docs list them in).
constexpr std::array<core::EnumName<Precision>, 6> enum_names(Precision) {
  return {{{Precision::Fp16, "fp16"},
           {Precision::Fp32, "fp32"},
           {Precision::Fp64, "fp64"},
           {Precision::Bf16, "bf16"},
           {Precision::AmpFp16, "amp_fp16"},
           {Precision::AmpBf16, "amp_bf16"}}};
}
constexpr std::array<core::EnumName<OptimizerKind>, 4> enum_names(OptimizerKind) {
  return {{{OptimizerKind::Sgd, "sgd"},
           {OptimizerKind::Adam, "adam"},
           {OptimizerKind::AdamW, "adamw"},
           {OptimizerKind::INNAprop, "innaprop"}}};
}
constexpr std::array<core::EnumName<ScheduleKind>, 3> enum_names(ScheduleKind) {
  return {
      {{ScheduleKind::Constant, "constant"}, {ScheduleKind::Cosine, "cosine"}, {ScheduleKind::Step, "step"}}};
}
constexpr std::array<core::EnumName<HalfCompute>, 3> enum_names(HalfCompute) {
  return {{{HalfCompute::Auto, "auto"},
           {HalfCompute::Fp32Accumulate, "fp32_accumulate"},
           {HalfCompute::Native, "native"}}};
}
constexpr std::array<core::EnumName<Augmentation>, 2> enum_names(Augmentation) {
  return {{{Augmentation::Standard, "standard"}, {Augmentation::None, "none"}}};
}
constexpr std::array<core::EnumName<Seeding>, 2> enum_names(Seeding) {
  return {{{Seeding::Paired, "paired"}, {Seeding::Independent, "independent"}}};
}
constexpr std::array<core::EnumName<LogLevel>, 5> enum_names(LogLevel) {
  return {{{LogLevel::Trace, "trace"},
           {LogLevel::Debug, "debug"},
           {LogLevel::Info, "info"},
           {LogLevel::Warn, "warn"},
           {LogLevel::Error, "error"}}};
}
constexpr std::array<core::EnumName<DistributedBackend>, 3> enum_names(DistributedBackend) {
  return {{{DistributedBackend::Auto, "auto"},
           {DistributedBackend::Gloo, "gloo"},
           {DistributedBackend::Nccl, "nccl"}}};
}

inline std::string to_string(Precision precision) { return core::enum_name(precision); }
inline std::string to_string(OptimizerKind kind) { return core::enum_name(kind); }
inline std::string to_string(ScheduleKind kind) { return core::enum_name(kind); }
inline std::string to_string(HalfCompute mode) { return core::enum_name(mode); }
/// `data` section: which dataset, where, and how it is batched (see tiebreak::data).
struct DataConfig {
  /// Registry name: mnist, fashion-mnist, kmnist, cifar-10, cifar-100, svhn, imagenet, synthetic.
  std::string dataset = "mnist";
  /// Data root holding one folder per dataset; empty = $TIEBREAK_DATA, else ./data.
  std::string root;
  int64_t batch_size = 128;
  int64_t test_batch_size = 1000;
  /// Shuffle the training split every epoch; false reads it in file order every epoch (augmentation is
  /// still drawn per epoch), as the study's zone-volume notebook did (a DataLoader without shuffle).
  bool shuffle = true;
  /// Training augmentation (see Augmentation).
  Augmentation augmentation = Augmentation::Standard;
  /// SVHN: append the 'extra' set to the training split.
  bool svhn_extra = false;
  /// Train on only the first N examples of each epoch's shuffled order (0 = all):
  /// quick sweeps and smoke runs. A different random subset each epoch.
  int64_t train_limit = 0;
  /// Evaluate on only the first N test examples (0 = all).
  int64_t test_limit = 0;
  /// ImageNet JPEG decoding threads.
  int64_t num_workers = 4;
  /// ImageNet: the side of the training RandomResizedCrop and of the test
  /// CenterCrop, and the shorter side the test images are resized to first.
  int64_t crop_size = 224;
  int64_t resize_size = 256;
  /// `data.files`: override the files of a split (relative to the dataset folder or absolute).
  struct Files {
    std::vector<std::string> train;
    std::vector<std::string> test;
  } files;
  /// `data.synthetic`: the `synthetic` dataset's size: examples per split, classes, image shape {C, H, W}.
  struct Synthetic {
    int64_t train_size = 10000;
    int64_t test_size = 2000;
    int64_t classes = 10;
    std::vector<int64_t> shape{1, 28, 28};
  } synthetic;
};

/// `model` section (see tiebreak::models::ModelOptions).
struct ModelConfig {
  /// lenet5, vgg11, vgg13, vgg16, vgg19, resnet18, resnet34, resnet50, densenet121.
  std::string name = "lenet5";
  bool batch_norm = false;
  /// How the weights are set (see models::InitScheme; "kaiming" is the study's notebook init_weights).
  models::InitScheme init = models::InitScheme::PytorchDefault;
  /// The network as torchvision or as the study's code built it (see models::ModelVariant; only
  /// densenet121 differs).
  models::ModelVariant variant = models::ModelVariant::Torchvision;
  /// ResNet/DenseNet stem: "cifar" (3x3 conv) or "imagenet" (7x7 conv stride 2).
  models::Stem stem = models::Stem::Cifar;
  /// `model.stem_pool`: the stem's max pooling; the study's 2x2/2 by default (torchvision: 3, 2, 1).
  struct StemPool {
    int64_t kernel = 2;
    int64_t stride = 2;
    int64_t padding = 0;
  } stem_pool;
};

/// `nonsmooth` section: the Jacobian choices every pooling layer and ReLU of the model is built with
/// (mapped onto nn::Nonsmooth by to_model_options). This is what the study ("On the numerical reliability
/// of nonsmooth autodiff: a MaxPool case study", Boustany, TMLR 2024) varies.
struct NonsmoothConfig {
  /// The pooling operator at every pooling site: MaxPool (the study's training runs) or NormPool (L2
  /// pooling, whose gradient-discrepancy histograms the study sets beside MaxPool's).
  nn::PoolKind pool = nn::PoolKind::MaxPool;
  /// β, the MaxPool Jacobian J_β = β·J_min + (1−β)·J_native applied where several inputs of a window tie
  /// for the max (J_min: the minimal-norm element of the Clarke Jacobian, which spreads the gradient over
  /// the t tied inputs as 1/t each; J_native: PyTorch's, all of it to one input). 0 is PyTorch's choice,
  /// 1 the minimal-norm one; any finite real is accepted (the study's grid: 0, 1, 10, 100, 1000, 10000,
  /// where |β| > 1 puts opposite-signed weights on the tied inputs and amplifies rounding). Untied
  /// windows get the native gradient for every β. Ignored by NormPool.
  double beta = 0.0;
  /// How J_β is computed. `Pure`: forward exactly native max_pool2d, backward J_β accumulated in a wider
  /// type and rounded once. `Mixture`: the study's code, β·MinNormPool(x) + (1−β)·NativePool(x)
  /// evaluated in the tensor's dtype, rounding included — so in fp16 β·max overflows to inf and the
  /// output is NaN once a window's max exceeds 65504/β (6.55 at β = 10⁴), and untied windows get
  /// fl(β·g) + fl((1−β)·g), not g.
  ops::PoolFormulation formulation = ops::PoolFormulation::Pure;
  /// NormPool only: the gradient factor every element of an all-zero window gets (the norm is not
  /// differentiable at 0; the study compares 0 and 1).
  double grad_at_zero = 0.0;
  /// ReLU'(0): the derivative α every ReLU of the model uses where its input is exactly 0 (PyTorch's
  /// is 0). Any finite real.
  double relu_alpha = 0.0;
};

/// `train.optimizer`: every field is read; each optimizer uses its own.
struct OptimizerConfig {
  OptimizerKind name = OptimizerKind::Sgd;
  double lr = 0.01;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  /// Adam/AdamW's (β₁, β₂), named as PyTorch names them; not the Jacobian β of `nonsmooth.beta`.
  std::array<double, 2> betas{0.9, 0.999};
  double eps = 1e-8;
  /// INNAprop's α, β (the damping parameters of INNA; not the Jacobian β of `nonsmooth.beta`) and σ
  /// (RMSprop's decay).
  double alpha = 0.1;
  double beta = 0.9;
  double sigma = 0.999;
};

/// `train.schedule`: stepped once per epoch.
struct ScheduleConfig {
  ScheduleKind name = ScheduleKind::Constant;
  int64_t step_size = 30;
  double gamma = 0.1;
};

/// `train.loss_scale`: dynamic loss scaling for amp_fp16 (GradScaler's defaults).
struct LossScaleConfig {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

/// `train.zone_probe`: the zone probe (tiebreak::zones::ZoneProbe), which measures at every `every`-th
/// optimizer step of an epoch how far the gradient of the current weights and mini-batch moves when the
/// Jacobian choice is switched, without changing the run. Off by default.
struct ZoneProbeConfig {
  /// Probe steps 0, every, 2·every, ... of each epoch; 0 = off.
  int64_t every = 0;
  /// The two Jacobian choices compared, as `tiebreak zones --pair` writes them: a key of the `nonsmooth`
  /// section (beta, formulation, grad_at_zero, relu_alpha) and two values, either of which may be `run`
  /// (the run's own value), e.g. "nonsmooth.beta=0,1" (the study's pair) or "nonsmooth.beta=run,0".
  std::string pair = "nonsmooth.beta=0,1";
  /// The discrepancy D: "linf" (Σ_k ‖Δ∇_k‖_∞, the study's volume) or "l1" (Σ_k ‖Δ∇_k‖_1).
  zones::DiscrepancyNorm norm = zones::DiscrepancyNorm::Linf;
  /// D above this is "above threshold"; a negative value (the default, -1) = the study's threshold for the
  /// run's precision (zones::default_threshold: 1e-3 / 1e-7 / 1e-15 for 16 / 32 / 64 bits).
  double threshold = -1;
  /// Classify each probe with D > 0 as bifurcation or compensation (an fp64 forward of the same weights and
  /// mini-batch; not at fp64, which has no higher precision).
  bool classify = true;
};

/// `train` section.
struct TrainConfig {
  Precision precision = Precision::Fp32;
  /// `train.half_compute`: auto (default), fp32_accumulate (the values of a
  /// GPU's 16-bit kernels, 10-30x faster than LibTorch's CPU Half kernels) or
  /// native; see HalfCompute.
  HalfCompute half_compute = HalfCompute::Auto;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  LossScaleConfig loss_scale;
  int64_t epochs = 1;
  int64_t runs = 1;
  uint64_t seed = 0;
  /// "paired": run k of every configuration starts from seed + k, so the runs of a β sweep share their
  /// initial weights and batch order run by run (a paired design); "independent": the seed also mixes in
  /// everything the config computes (β, precision, ...), so every configuration draws its own, as the
  /// study's independent runs did.
  Seeding seeding = Seeding::Paired;
  /// Stop the process cleanly after this epoch (0 = never), leaving the run
  /// resumable: used by tests to simulate an interruption.
  int64_t stop_after_epoch = 0;
  ZoneProbeConfig zone_probe;
};

/// `exp.distributed` section: how a run launched by torchrun or srun (one
/// process per GPU or CPU worker) talks to its peer ranks. Ignored by a
/// single-process run.
struct DistributedConfig {
  /// "auto" (nccl on CUDA devices, gloo on the CPU), "gloo" or "nccl".
  DistributedBackend backend = DistributedBackend::Auto;
  /// Seconds the rendezvous or one collective may wait for the other ranks
  /// before the run fails (a dead or stuck rank ends the others this way).
  double timeout_seconds = 600;
  /// Size of one gradient all-reduce bucket in MiB (PyTorch DDP's default).
  double bucket_mb = 25;
  /// With model.batch_norm: BatchNorm statistics over the global batch (all
  /// ranks) instead of each rank's part of it; the trainer converts the built
  /// model with distributed::convert_sync_batch_norm.
  bool sync_batch_norm = false;
};

/// `exp` section: where and how a run executes.
struct ExpConfig {
  /// Directory the run directory is created in (`--out` overrides).
  std::string output_dir = "runs";
  /// Run directory name inside output_dir; empty = derived from the config file name.
  std::string name;
  /// Write a resumable checkpoint after every epoch.
  bool checkpoint = true;
  /// "auto" (CUDA when available), "cpu" or "cuda:N".
  std::string device = "auto";
  bool deterministic = false;
  /// Intra-op CPU threads (0 = LibTorch's default).
  int64_t threads = 0;
  /// spdlog level for the log file and console: trace|debug|info|warn|error.
  LogLevel log_level = LogLevel::Info;
  /// Record per-layer tied-window fractions each epoch (costs one extra pass over the counters).
  bool tie_stats = true;
  /// When stderr is not a terminal (a log file, a batch job, a sweep child), a progress line (step, loss,
  /// accuracy, images/s, ETA) is logged every this many seconds of training, as torchvision's reference
  /// scripts do with --print-freq; 0 turns it off. On a terminal the progress is shown in place instead.
  double log_every_seconds = 30;
  DistributedConfig distributed;
};

/// `sweep` section: what `tiebreak sweep CONFIG` runs without --grid.
struct SweepConfig {
  /// Grid axes: a dotted config key and its values, e.g. {"nonsmooth.beta", [0, 1, 10, 100, 1000, 10000]}
  /// (the study's β grid in every configs/paper config). JSON: {"grid": {"nonsmooth.beta": [0, 1, ...]}}.
  std::vector<std::pair<std::string, std::vector<nlohmann::json>>> grid;
};

/// `zones` section: the study's gradient-discrepancy experiments (tiebreak zones).
struct ZonesConfig {
  /// Independent initializations (seeds train.seed + k) whose mini-batches the D histograms pool; the study's
  /// noise and NormPool histograms used 100.
  int64_t initializations = 100;
  /// The same at 64 bits (the study: 1).
  int64_t initializations_fp64 = 1;
};

/// A complete, validated experiment description.
///
/// Example:
/// ```
/// auto loaded = load_config("configs/paper/mnist_lenet5_sgd.json", {"train.optimizer.lr=0.01"});
/// loaded.config.train.epochs;  // typed
/// loaded.json.dump(2);         // resolved, every default filled in: written as config.json
/// ```
struct ExperimentConfig {
  DataConfig data;
  ModelConfig model;
  NonsmoothConfig nonsmooth;
  TrainConfig train;
  SweepConfig sweep;
  ZonesConfig zones;
  ExpConfig exp;
};

/// The typed config and its fully resolved JSON (every field present).
struct LoadedConfig {
  ExperimentConfig config;
  nlohmann::json json;
  /// The file the config was loaded from (empty when built from JSON).
  std::filesystem::path source;
};

/// Reads `path`, follows its `"extends"` chain (paths relative to each file,
/// deep merge, later files win), applies `overrides` ("a.b.c=value", value
/// parsed as JSON, else taken as a string) and validates the result against the
/// schema. Throws ConfigError with one line naming the file and JSON path.
LoadedConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides = {});

/// Validates an already merged JSON document (no `extends`). `source` names it in errors.
LoadedConfig config_from_json(const nlohmann::json& document, const std::string& source = "<json>");

/// The JSON form of a typed config (every field present); config_from_json(to_json(c)) == c.
nlohmann::json to_json(const ExperimentConfig& config);

/// Sets `document` at the dotted `key` to `value` (parsed as JSON when it parses,
/// else a string), creating objects on the way. Throws ConfigError on a malformed assignment.
void apply_override(nlohmann::json& document, const std::string& assignment);

/// Splits "a.b.c=value" into its key and raw value; ConfigError naming `assignment` if there is no '='.
std::pair<std::string, std::string> split_assignment(const std::string& assignment);

/// The JSON value of a `--set` / `--grid` value string: JSON when it parses, else a string.
nlohmann::json parse_value(const std::string& text);

/// The value at a dotted path of a JSON document, or null.
nlohmann::json value_at(const nlohmann::json& document, const std::string& dotted_key);

}  // namespace tiebreak::config
