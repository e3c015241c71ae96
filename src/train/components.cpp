#include "tiebreak/train/task.h"

#include "tiebreak/data/registry.h"
#include "tiebreak/data/sampler.h"
#include "tiebreak/models/models.h"
#include "tiebreak/nn/nonsmooth.h"
#include "tiebreak/ops/formulation.h"

#include <fmt/format.h>

#include <limits>

namespace tiebreak::train {

namespace {

/// A tiebreak::data dataset as the trainer sees it: one shard of it, with the
/// config's example limits (which count all ranks together).
class DatasetBatchSource : public BatchSource {
 public:
  DatasetBatchSource(std::shared_ptr<data::Dataset> dataset, int64_t train_limit, int64_t test_limit,
                     data::Shard shard)
      : dataset_(std::move(dataset)),
        // Rank r owns positions r, r + W, ...: the first `limit` positions of the epoch are the first
        // limit / W of every rank's (the training split keeps every rank's step count equal).
        train_limit_(train_limit > 0 ? train_limit / shard.world_size : kUnlimited),
        test_limit_(test_limit > 0 ? std::max<int64_t>(0, (test_limit - shard.rank + shard.world_size - 1) /
                                                              shard.world_size)
                                   : kUnlimited),
        shard_(shard) {}

  int64_t num_classes() const override { return dataset_->num_classes(); }
  std::vector<int64_t> input_shape() const override {
    auto s = dataset_->image_shape();
    return {s.channels, s.height, s.width};
  }
  int64_t train_size() const override {
    return limited(data::shard_size(dataset_->size(data::Split::Train), shard_, true), train_limit_);
  }
  int64_t test_size() const override {
    return limited(data::shard_size(dataset_->size(data::Split::Test), shard_, false), test_limit_);
  }
  data::Shard shard() const override { return shard_; }
  std::string generator() const override {
    // Order (stream 0) and augmentation (stream 1) of epoch e come from data::epoch_generator(seed, e, s).
    return dataset_->options().shuffle() || dataset_->options().augment()
               ? "data::epoch_generator(run_seed, epoch)"
               : "none (data.shuffle false, no augmentation)";
  }
  void for_each_train_batch(int64_t epoch, const std::function<void(const Batch&)>& fn) override {
    stream(data::Split::Train, epoch, train_limit_, fn);
  }
  void for_each_test_batch(const std::function<void(const Batch&)>& fn) override {
    stream(data::Split::Test, 0, test_limit_, fn);
  }
  std::string describe() const override {
    return fmt::format("{} ({} train / {} test examples per epoch)", dataset_->name(), train_size(),
                       test_size());
  }

 private:
  static constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();
  static int64_t limited(int64_t size, int64_t limit) { return std::min(size, limit); }

  void stream(data::Split split, int64_t epoch, int64_t limit, const std::function<void(const Batch&)>& fn) {
    auto s = dataset_->epoch(split, epoch, shard_);
    int64_t seen = 0;
    while (seen < limit) {
      auto b = s->next();
      if (!b) break;
      int64_t n = b->labels.size(0);
      if (seen + n > limit) {
        n = limit - seen;
        b->images = b->images.narrow(0, 0, n);
        b->labels = b->labels.narrow(0, 0, n);
      }
      seen += n;
      fn(Batch{b->images, b->labels});
    }
  }

  std::shared_ptr<data::Dataset> dataset_;
  int64_t train_limit_, test_limit_;
  data::Shard shard_;
};

}  // namespace

Components default_components() {
  Components c;
  c.make_data = [](const config::ExperimentConfig& cfg,
                   const DataRequest& request) -> std::shared_ptr<BatchSource> {
    const auto& d = cfg.data;
    auto options =
        data::DataOptions(d.dataset)
            .root(d.root)
            .train_batch_size(request.train_batch_size > 0 ? request.train_batch_size : d.batch_size)
            .test_batch_size(d.test_batch_size)
            .shuffle(d.shuffle)
            .augment(d.augmentation == "standard")
            .seed(request.seed)
            .device(request.device)
            .dtype(request.dtype)
            .train_files(d.train_files)
            .test_files(d.test_files)
            .svhn_extra(d.svhn_extra)
            .num_workers(d.num_workers)
            .crop_size(d.crop_size)
            .resize_size(d.resize_size)
            .synthetic_train_size(d.synthetic_train_size)
            .synthetic_test_size(d.synthetic_test_size)
            .synthetic_classes(d.synthetic_classes)
            .synthetic_shape(d.synthetic_shape);
    return std::make_shared<DatasetBatchSource>(data::make_dataset(d.dataset, options), d.train_limit,
                                                d.test_limit, request.shard);
  };
  c.make_model = [](const config::ExperimentConfig& cfg, const BatchSource& data, uint64_t seed) -> Model {
    const auto shape = data.input_shape();
    TORCH_CHECK(shape.size() == 3 && shape[1] == shape[2], "model.name: ", cfg.model.name,
                " needs square images, the dataset gives ", c10::IntArrayRef(shape));
    auto policy = nn::Nonsmooth()
                      .pool(nn::parse_pool_kind(cfg.nonsmooth.pool))
                      .beta(cfg.nonsmooth.beta)
                      .formulation(ops::parse_pool_formulation(cfg.nonsmooth.formulation))
                      .grad_at_zero(cfg.nonsmooth.grad_at_zero)
                      .relu_alpha(cfg.nonsmooth.relu_alpha);
    auto options = models::ModelOptions(cfg.model.name)
                       .nonsmooth(policy)
                       .batch_norm(cfg.model.batch_norm)
                       .sync_batch_norm(cfg.exp.distributed.sync_batch_norm)
                       .in_channels(shape[0])
                       .image_size(shape[1])
                       .num_classes(data.num_classes())
                       .stem(models::parse_stem(cfg.model.stem))
                       .stem_pool_kernel(cfg.model.stem_pool_kernel)
                       .stem_pool_stride(cfg.model.stem_pool_stride)
                       .stem_pool_padding(cfg.model.stem_pool_padding)
                       .init(models::parse_init_scheme(cfg.model.init))
                       .variant(models::parse_model_variant(cfg.model.variant))
                       .seed(seed);
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
