#include "tiebreak/train/task.h"

#include "tiebreak/config/options.h"

#include "tiebreak/data/registry.h"
#include "tiebreak/models/models.h"

namespace tiebreak::train {

Components default_components() {
  Components c;
  c.make_data = [](const config::ExperimentConfig&, const data::DataOptions& options) {
    return data::make_dataset(options);
  };
  c.make_model = [](const config::ExperimentConfig& cfg, const data::Dataset& data, uint64_t seed) -> Model {
    const auto shape = data.image_shape();
    TORCH_CHECK(shape.height == shape.width, "model.name: ", cfg.model.name,
                " needs square images, the dataset gives ", shape.channels, "x", shape.height, "x",
                shape.width);
    const auto options =
        config::to_model_options(cfg, shape.channels, shape.height, data.num_classes(), seed);
    auto any = models::make_model(options);
    Model m;
    m.module = any.ptr();
    m.forward = [any](const torch::Tensor& x) mutable { return any.forward<torch::Tensor>(x); };
    for (const auto& layer : models::nonsmooth_layers(*any.ptr())) {
      if (layer.kind == models::NonsmoothKind::Pool && layer.counter) {
        m.tie_counters.push_back({layer.name, layer.counter});
      }
    }
    return m;
  };
  return c;
}

}  // namespace tiebreak::train
