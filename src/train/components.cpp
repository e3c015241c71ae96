#include "tiebreak/train/task.h"

#include "tiebreak/config/options.h"

#include "tiebreak/data/registry.h"
#include "tiebreak/data/sampler.h"
#include "tiebreak/models/models.h"

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
        config::to_data_options(cfg, request.seed, request.device, request.dtype,
                                request.train_batch_size > 0 ? request.train_batch_size : d.batch_size);
    return std::make_shared<DatasetBatchSource>(data::make_dataset(d.dataset, options), d.train_limit,
                                                d.test_limit, request.shard);
  };
  c.make_model = [](const config::ExperimentConfig& cfg, const BatchSource& data, uint64_t seed) -> Model {
    const auto shape = data.input_shape();
    TORCH_CHECK(shape.size() == 3 && shape[1] == shape[2], "model.name: ", cfg.model.name,
                " needs square images, the dataset gives ", c10::IntArrayRef(shape));
    const auto options = config::to_model_options(cfg, shape[0], shape[1], data.num_classes(), seed);
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
