#include "tiebreak/train/evaluate.h"

#include "tiebreak/config/config.h"
#include "tiebreak/config/options.h"
#include "tiebreak/train/checkpoint.h"
#include "tiebreak/train/engine.h"
#include "tiebreak/train/optimizer.h"
#include "tiebreak/train/trainer.h"

#include <c10/util/Exception.h>
#include <torch/utils.h>

namespace tiebreak::train {

namespace fs = std::filesystem;

CheckpointEvaluation evaluate_checkpoint(const fs::path& path, const std::vector<std::string>& overrides,
                                         const Components& components) {
  TORCH_CHECK(fs::exists(path), path.string(), ": no such run directory or checkpoint");
  const fs::path checkpoint = fs::is_directory(path) ? path / "checkpoint.pt" : path;
  const fs::path run_dir = checkpoint.parent_path().empty() ? fs::path(".") : checkpoint.parent_path();
  TORCH_CHECK(
      fs::is_regular_file(checkpoint), checkpoint.string(),
      ": no checkpoint (a run writes checkpoint.pt after every epoch unless exp.checkpoint is false)");
  TORCH_CHECK(fs::is_regular_file(run_dir / "config.json"), (run_dir / "config.json").string(),
              ": no config beside the checkpoint (expected the run directory's resolved config.json)");
  const auto loaded = config::load_config(run_dir / "config.json", overrides);
  const auto& cfg = loaded.config;
  const auto meta = read_checkpoint_meta(checkpoint);

  apply_execution_settings(cfg.exp);
  const c10::Device device = resolve_device(cfg.exp.device);
  const PrecisionPlan plan = plan_for(cfg.train.precision, cfg.train.half_compute);
  const uint64_t seed = meta.value("run_seed", uint64_t{0});
  torch::manual_seed(seed);
  auto data = components.make_data(cfg, config::to_data_options(cfg, seed, device, plan.parameter_dtype));
  Model model = components.make_model(cfg, *data, seed);
  TORCH_CHECK(model.module && model.forward, "model '", cfg.model.name, "': the factory returned no module");
  model.module->to(device, plan.parameter_dtype);
  // The whole checkpoint is restored, optimizer state included: the same checks as --resume, so a file of
  // another model, optimizer or precision is refused before any weight is used.
  auto optimizer = make_optimizer(cfg.train.optimizer, model.module->parameters());
  std::unique_ptr<DynamicLossScaler> scaler;
  if (plan.loss_scaling) scaler = std::make_unique<DynamicLossScaler>(cfg.train.loss_scale, device);
  load_checkpoint(checkpoint, CheckpointParts{model.module.get(), optimizer.get(), scaler.get()});

  EvaluateHooks hooks;
  hooks.count_ties = cfg.exp.tie_stats;
  const EpochResult tested = evaluate(model, *data, plan, device, nullptr, hooks);
  TORCH_CHECK(tested.batches > 0, "data '", cfg.data.dataset, "': the test set produced no batches");

  CheckpointEvaluation result;
  result.checkpoint = checkpoint;
  result.epochs = meta.value("epoch", int64_t{0});
  result.device = device.str();
  result.examples = tested.examples;
  result.test_loss = tested.loss;
  result.test_accuracy = tested.accuracy;
  result.ties = tested.ties;
  return result;
}

}  // namespace tiebreak::train
