#pragma once

#include "tiebreak/data/dataset.h"

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace tiebreak::data {

/// normalize(0.5, 0.5) per channel: MNIST, Fashion-MNIST, KMNIST and SVHN in the study.
Normalization half_normalization(int64_t channels);
/// CIFAR-10/100: mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010).
Normalization cifar_normalization();
/// ImageNet: mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
Normalization imagenet_normalization();

/// uint8 NCHW images → (x/255 − mean[c]) / std[c] in `dtype`, on the images' device,
/// in one fused multiply-add per element (computed in float32, then cast).
torch::Tensor normalize(const torch::Tensor& images, const Normalization& norm, torch::Dtype dtype);

/// `normalize` with its per-channel constants prepared once on `device`, so that producing a
/// batch on a GPU copies nothing from the host (a host-to-device copy would stall the stream).
///
/// Example:
/// ```
/// Normalizer norm(cifar_normalization(), torch::kCUDA);
/// auto x = norm(uint8_images_on_cuda, torch::kFloat32);
/// ```
class Normalizer {
 public:
  Normalizer(const Normalization& norm, torch::Device device);
  torch::Tensor operator()(const torch::Tensor& images, torch::Dtype dtype) const;

 private:
  torch::Tensor scale_;
  torch::Tensor shift_;
};

/// Random parameters of the CIFAR training augmentation for n images: vertical
/// and horizontal crop offsets in [0, 2·padding] and a flip flag, drawn from `gen`.
struct CropFlipDraws {
  torch::Tensor offset_y;  ///< int64 [n]
  torch::Tensor offset_x;  ///< int64 [n]
  torch::Tensor flip;      ///< bool [n]
};
CropFlipDraws draw_crop_flip(int64_t n, int64_t padding, bool flip, at::Generator& gen);

/// RandomCrop(H×W, padding) of a whole batch at once: zero-pads every image by
/// `padding` on each side, then image i keeps rows offset_y[i]..+H and columns
/// offset_x[i]..+W (gathered, no per-image loop). `images` is [N, C, H, W] of any dtype;
/// offsets are int64 [N] on any device. Padding 0 returns `images`.
torch::Tensor random_crop(const torch::Tensor& images, int64_t padding, const torch::Tensor& offset_y,
                          const torch::Tensor& offset_x);

/// Mirrors image i left-right where flip[i] (bool [N]) is true.
torch::Tensor random_horizontal_flip(const torch::Tensor& images, const torch::Tensor& flip);

}  // namespace tiebreak::data
