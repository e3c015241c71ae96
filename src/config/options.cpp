#include "tiebreak/config/options.h"

namespace tiebreak::config {

models::ModelOptions to_model_options(const ExperimentConfig& config, int64_t channels, int64_t image_size,
                                      int64_t num_classes, uint64_t seed) {
  const auto& n = config.nonsmooth;
  const auto& m = config.model;
  return models::ModelOptions(m.name)
      .nonsmooth(nn::Nonsmooth()
                     .pool(n.pool)
                     .beta(n.beta)
                     .formulation(n.formulation)
                     .grad_at_zero(n.grad_at_zero)
                     .relu_alpha(n.relu_alpha))
      .batch_norm(m.batch_norm)
      .in_channels(channels)
      .image_size(image_size)
      .num_classes(num_classes)
      .stem(m.stem)
      .stem_pool_kernel(m.stem_pool.kernel)
      .stem_pool_stride(m.stem_pool.stride)
      .stem_pool_padding(m.stem_pool.padding)
      .init(m.init)
      .variant(m.variant)
      .seed(seed);
}

data::DataOptions to_data_options(const ExperimentConfig& config, uint64_t seed, c10::Device device,
                                  c10::ScalarType dtype) {
  const auto& d = config.data;
  return data::DataOptions(d.dataset)
      .root(d.root)
      .train_batch_size(d.batch_size)
      .test_batch_size(d.test_batch_size)
      .shuffle(d.shuffle)
      .augment(d.augmentation == Augmentation::Standard)
      .train_limit(d.train_limit)
      .test_limit(d.test_limit)
      .seed(seed)
      .device(device)
      .dtype(dtype)
      .train_files(d.files.train)
      .test_files(d.files.test)
      .svhn_extra(d.svhn_extra)
      .num_workers(d.num_workers)
      .crop_size(d.crop_size)
      .resize_size(d.resize_size)
      .synthetic_train_size(d.synthetic.train_size)
      .synthetic_test_size(d.synthetic.test_size)
      .synthetic_classes(d.synthetic.classes)
      .synthetic_shape(d.synthetic.shape);
}

}  // namespace tiebreak::config
