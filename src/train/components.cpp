#include "tiebreak/train/task.h"

namespace tiebreak::train {

Components default_components() {
  Components c;
  c.make_data = [](const config::ExperimentConfig& cfg, const DataRequest&) -> std::shared_ptr<BatchSource> {
    TORCH_CHECK(false, "data.dataset: '", cfg.data.dataset,
                "': this build has no dataset registry (tiebreak::data)");
  };
  c.make_model = [](const config::ExperimentConfig& cfg, const BatchSource&, uint64_t) -> Model {
    TORCH_CHECK(false, "model.name: '", cfg.model.name,
                "': this build has no model registry (tiebreak::models)");
  };
  return c;
}

}  // namespace tiebreak::train
