#include "tiebreak/data/synthetic.h"

#include "tiebreak/data/error.h"
#include "tiebreak/data/sampler.h"
#include "tiebreak/data/transforms.h"

#include <spdlog/spdlog.h>

#include <cmath>

namespace tiebreak::data {

namespace {
// Streams of epoch_generator reserved for the synthetic images (far from the small stream
// numbers the batch order and augmentation use).
constexpr uint64_t kSyntheticStream = 0x73796e7468657469ULL;
constexpr double kPi = 3.14159265358979323846;
}  // namespace

ImageTensors generate_synthetic(int64_t n, int64_t classes, const std::vector<int64_t>& shape, uint64_t seed,
                                uint64_t stream) {
  TIEBREAK_DATA_CHECK(n > 0, "synthetic: expected a positive number of examples, got ", n);
  TIEBREAK_DATA_CHECK(classes >= 2, "synthetic: expected at least 2 classes, got ", classes);
  TIEBREAK_DATA_CHECK(shape.size() == 3 && shape[0] > 0 && shape[1] > 0 && shape[2] > 0,
                      "synthetic: expected an image shape {C, H, W} of positive sizes, got ",
                      c10::IntArrayRef(shape));
  const int64_t c = shape[0], h = shape[1], w = shape[2];
  auto gen = epoch_generator(seed, 0, kSyntheticStream + stream);
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  auto longs = torch::TensorOptions().dtype(torch::kLong);

  // Balanced labels in a seeded order.
  auto labels = torch::arange(n, longs).remainder(classes).index_select(0, torch::randperm(n, gen, longs));
  auto k = labels.to(torch::kFloat32);

  // Class templates: grating orientation, frequency, blob centre and colour.
  auto theta = k * (kPi / classes) + 0.08 * torch::randn({n}, gen, f32);
  auto freq = 1.5 + (labels.remainder(3).to(torch::kFloat32)) * 1.25;
  auto angle = k * (2 * kPi / classes);
  auto cy = 0.45 * torch::sin(angle) + 0.08 * torch::randn({n}, gen, f32);
  auto cx = 0.45 * torch::cos(angle) + 0.08 * torch::randn({n}, gen, f32);
  auto phase = torch::rand({n}, gen, f32) * (2 * kPi);
  auto contrast = 0.6 + 0.4 * torch::rand({n}, gen, f32);

  auto ys = torch::linspace(-1, 1, h, f32).view({1, h, 1});
  auto xs = torch::linspace(-1, 1, w, f32).view({1, 1, w});
  auto v = [](const torch::Tensor& t) { return t.view({-1, 1, 1}); };
  auto proj = xs * v(torch::cos(theta)) + ys * v(torch::sin(theta));                         // [n, h, w]
  auto grating = torch::sin(proj * v(freq) * (2 * kPi) + v(phase)) * v(contrast);            // [-1, 1]
  auto blob = torch::exp(-((ys - v(cy)).pow(2) + (xs - v(cx)).pow(2)) / (2 * 0.25 * 0.25));  // [0, 1]

  // Per-channel colour of each class: channels respond differently to grating and blob.
  auto ch = torch::arange(c, f32).view({1, c});
  auto colour = 0.6 + 0.4 * torch::cos(2 * kPi * (k.view({n, 1}) / classes + ch / std::max<int64_t>(c, 1)));
  auto img = 0.5 + 0.25 * grating.unsqueeze(1) * colour.view({n, c, 1, 1}) +
             0.3 * (blob.unsqueeze(1) - 0.2) * (1.2 - colour.view({n, c, 1, 1}));
  img = img + 0.12 * torch::randn({n, c, h, w}, gen, f32);
  auto images = img.clamp(0, 1).mul(255).round().to(torch::kByte);
  return {images, labels};
}

std::shared_ptr<TensorDataset> make_synthetic_dataset(const DataOptions& options) {
  const auto& shape = options.synthetic_shape();
  auto train = generate_synthetic(options.synthetic_train_size(), options.synthetic_classes(), shape,
                                  options.seed(), 0);
  auto test = generate_synthetic(options.synthetic_test_size(), options.synthetic_classes(), shape,
                                 options.seed(), 1);
  spdlog::info("synthetic: {} training and {} test images of {}x{}x{} in {} classes (seed {})",
               train.images.size(0), test.images.size(0), shape[0], shape[1], shape[2],
               options.synthetic_classes(), options.seed());
  return std::make_shared<TensorDataset>(options, "synthetic", std::move(train), std::move(test),
                                         options.synthetic_classes(), half_normalization(shape[0]),
                                         Augmentation{});
}

}  // namespace tiebreak::data
