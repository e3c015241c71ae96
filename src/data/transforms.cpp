#include "tiebreak/data/transforms.h"

#include "tiebreak/data/error.h"

namespace tiebreak::data {

Normalization half_normalization(int64_t channels) {
  return {std::vector<double>(channels, 0.5), std::vector<double>(channels, 0.5)};
}

Normalization cifar_normalization() { return {{0.4914, 0.4822, 0.4465}, {0.2023, 0.1994, 0.2010}}; }

Normalization imagenet_normalization() { return {{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}; }

Normalizer::Normalizer(const Normalization& norm, torch::Device device) {
  const auto channels = static_cast<int64_t>(norm.mean.size());
  TORCH_CHECK(channels > 0 && static_cast<int64_t>(norm.std.size()) == channels,
              "normalize: expected as many means as stds (at least one), got ", norm.mean.size(), " and ",
              norm.std.size());
  std::vector<float> scale(channels), shift(channels);
  for (int64_t c = 0; c < channels; ++c) {
    TORCH_CHECK(norm.std[c] > 0, "normalize: expected std > 0, got ", norm.std[c], " for channel ", c);
    scale[c] = static_cast<float>(1.0 / (255.0 * norm.std[c]));
    shift[c] = static_cast<float>(-norm.mean[c] / norm.std[c]);
  }
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  // clone(): on the CPU, to() would alias the local vectors.
  scale_ = torch::from_blob(scale.data(), {1, channels, 1, 1}, opts).clone().to(device);
  shift_ = torch::from_blob(shift.data(), {1, channels, 1, 1}, opts).clone().to(device);
}

torch::Tensor Normalizer::operator()(const torch::Tensor& images, torch::Dtype dtype) const {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == scale_.size(1), "normalize: expected NCHW images with ",
              scale_.size(1), " channels, got ", images.sizes());
  TORCH_CHECK(images.device() == scale_.device(), "normalize: images on ", images.device(),
              ", normalizer built for ", scale_.device());
  // x·scale + shift in one kernel: (x/255 − mean)/std.
  auto out = torch::addcmul(shift_, images.to(torch::kFloat32), scale_);
  return dtype == torch::kFloat32 ? out : out.to(dtype);
}

torch::Tensor normalize(const torch::Tensor& images, const Normalization& norm, torch::Dtype dtype) {
  return Normalizer(norm, images.device())(images, dtype);
}

CropFlipDraws draw_crop_flip(int64_t n, int64_t padding, bool flip, at::Generator& gen) {
  auto longs = torch::TensorOptions().dtype(torch::kLong);
  CropFlipDraws draws;
  // Always draw all three, so that switching one part off does not shift the others' draws.
  draws.offset_y = torch::randint(0, 2 * padding + 1, {n}, gen, longs);
  draws.offset_x = torch::randint(0, 2 * padding + 1, {n}, gen, longs);
  draws.flip = torch::randint(0, 2, {n}, gen, longs).eq(1);
  if (!flip) draws.flip.zero_();
  if (padding == 0) {
    draws.offset_y.zero_();
    draws.offset_x.zero_();
  }
  return draws;
}

torch::Tensor random_crop(const torch::Tensor& images, int64_t padding, const torch::Tensor& offset_y,
                          const torch::Tensor& offset_x) {
  TORCH_CHECK(images.dim() == 4, "random_crop: expected NCHW images, got ", images.sizes());
  TORCH_CHECK(padding >= 0, "random_crop: expected padding >= 0, got ", padding);
  if (padding == 0) return images;
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  TORCH_CHECK(offset_y.numel() == n && offset_x.numel() == n, "random_crop: expected ", n, " offsets, got ",
              offset_y.numel(), " and ", offset_x.numel());
  auto device = images.device();
  auto longs = torch::TensorOptions().dtype(torch::kLong).device(device);
  auto padded = torch::constant_pad_nd(images, {padding, padding, padding, padding}, 0);
  auto rows = offset_y.to(device).view({n, 1}) + torch::arange(h, longs).view({1, h});
  auto cols = offset_x.to(device).view({n, 1}) + torch::arange(w, longs).view({1, w});
  auto picked_rows = padded.gather(2, rows.view({n, 1, h, 1}).expand({n, c, h, w + 2 * padding}));
  return picked_rows.gather(3, cols.view({n, 1, 1, w}).expand({n, c, h, w}));
}

torch::Tensor random_horizontal_flip(const torch::Tensor& images, const torch::Tensor& flip) {
  TORCH_CHECK(images.dim() == 4, "random_horizontal_flip: expected NCHW images, got ", images.sizes());
  TORCH_CHECK(flip.numel() == images.size(0), "random_horizontal_flip: expected ", images.size(0),
              " flags, got ", flip.numel());
  auto mask = flip.to(images.device()).to(torch::kBool).view({-1, 1, 1, 1});
  return torch::where(mask, images.flip({3}), images);
}

}  // namespace tiebreak::data
