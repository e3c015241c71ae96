#pragma once

#include "tiebreak/data/tensor_dataset.h"

#include <memory>

namespace tiebreak::data {

/// n procedurally generated images of `shape` {C, H, W} in `classes` classes, a function of
/// (seed, stream) alone. Class k is a sinusoidal grating at orientation πk/K with a
/// class-dependent frequency and colour, under a Gaussian blob at a class-dependent place; each
/// image gets a random phase, contrast and pixel noise, so the task is learnable but not trivial.
/// Labels are balanced (i mod classes, then shuffled).
ImageTensors generate_synthetic(int64_t n, int64_t classes, const std::vector<int64_t>& shape, uint64_t seed,
                                uint64_t stream);

/// The `synthetic` dataset: sizes, classes and shape from options.synthetic_*(), training and test
/// images drawn from disjoint streams of options.seed(). Normalization (0.5, 0.5), no augmentation.
std::shared_ptr<TensorDataset> make_synthetic_dataset(const DataOptions& options);

}  // namespace tiebreak::data
