"""The study's LeNet5 and VGG in Python, with the parameter names of tiebreak's
C++ models (``features.conv1.weight``, ``classifier.fc1.bias``, …), so that
:func:`tiebreak.load_checkpoint` reads a C++ run's weights into them.

Every pool and ReLU is a tiebreak layer carrying the same β, formulation and
ReLU'(0) (the ``nonsmooth`` section of a tiebreak config). Initialisation is
PyTorch's default; load a checkpoint for tiebreak's weights.
"""

from collections import OrderedDict

import torch

from .nn import MaxPool2d, NormPool2d, ReLU


def _pool(pool: str, beta: float, formulation: str, grad_at_zero: float) -> torch.nn.Module:
    if pool == "maxpool":
        return MaxPool2d(2, 2, beta=beta, formulation=formulation)
    if pool == "normpool":
        return NormPool2d(2, 2, grad_at_zero=grad_at_zero)
    raise ValueError(f'pool must be "maxpool" or "normpool", got {pool!r}')


class _Classifier(torch.nn.Module):
    def __init__(self, features: torch.nn.Sequential, classifier: torch.nn.Module) -> None:
        super().__init__()
        self.features = features
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


def lenet5(in_channels: int = 1, image_size: int = 28, num_classes: int = 10, batch_norm: bool = False,
           beta: float = 0.0, formulation: str = "pure", relu_alpha: float = 0.0, pool: str = "maxpool",
           grad_at_zero: float = 0.0) -> torch.nn.Module:
    """LeNet5 as tiebreak builds it (``model.name: lenet5``): two valid 5×5
    convolutions, each followed by ReLU and a 2×2/2 pool (and BatchNorm with
    ``batch_norm``), then 120-84-``num_classes`` fully connected layers.
    Input ``(N, in_channels, image_size, image_size)``; output ``(N, num_classes)``."""
    side = ((image_size - 4) // 2 - 4) // 2
    if image_size < 16 or side <= 0:
        raise ValueError(f"lenet5: expected image_size >= 16, got {image_size}")
    f = [("conv1", torch.nn.Conv2d(in_channels, 6, 5)), ("relu1", ReLU(relu_alpha)),
         ("pool1", _pool(pool, beta, formulation, grad_at_zero))]
    if batch_norm:
        f.append(("bn1", torch.nn.BatchNorm2d(6)))
    f += [("conv2", torch.nn.Conv2d(6, 16, 5)), ("relu2", ReLU(relu_alpha)),
          ("pool2", _pool(pool, beta, formulation, grad_at_zero))]
    if batch_norm:
        f.append(("bn2", torch.nn.BatchNorm2d(16)))
    c = [("fc1", torch.nn.Linear(16 * side * side, 120)), ("relu3", ReLU(relu_alpha))]
    if batch_norm:
        c.append(("bn3", torch.nn.BatchNorm1d(120)))
    c += [("fc2", torch.nn.Linear(120, 84)), ("relu4", ReLU(relu_alpha))]
    if batch_norm:
        c.append(("bn4", torch.nn.BatchNorm1d(84)))
    c.append(("fc3", torch.nn.Linear(84, num_classes)))
    return _Classifier(torch.nn.Sequential(OrderedDict(f)), torch.nn.Sequential(OrderedDict(c)))


_VGG_LAYERS = {
    11: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
    13: [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
    16: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
    19: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
}


def vgg(depth: int = 11, in_channels: int = 3, image_size: int = 32, num_classes: int = 10,
        batch_norm: bool = False, beta: float = 0.0, formulation: str = "pure", relu_alpha: float = 0.0,
        pool: str = "maxpool", grad_at_zero: float = 0.0) -> torch.nn.Module:
    """VGG11/13/16/19 as tiebreak builds them (``model.name: vgg11`` …): 3×3
    convolutions (padding 1), each followed by BatchNorm (with ``batch_norm``)
    and ReLU, five 2×2/2 pools, one linear classifier. Input
    ``(N, in_channels, image_size, image_size)``, ``image_size >= 32``."""
    if depth not in _VGG_LAYERS:
        raise ValueError(f"vgg: expected depth 11, 13, 16 or 19, got {depth}")
    side = image_size // 32
    if side <= 0:
        raise ValueError(f"vgg{depth}: expected image_size >= 32 (five 2x2 max-pools), got {image_size}")
    layers, channels, conv, pools = [], in_channels, 0, 0
    for width in _VGG_LAYERS[depth]:
        if width == 0:
            pools += 1
            layers.append((f"pool{pools}", _pool(pool, beta, formulation, grad_at_zero)))
            continue
        conv += 1
        layers.append((f"conv{conv}", torch.nn.Conv2d(channels, width, 3, 1, 1)))
        if batch_norm:
            layers.append((f"bn{conv}", torch.nn.BatchNorm2d(width)))
        layers.append((f"relu{conv}", ReLU(relu_alpha)))
        channels = width
    return _Classifier(torch.nn.Sequential(OrderedDict(layers)), torch.nn.Linear(channels * side * side, num_classes))


def vgg11(**kwargs) -> torch.nn.Module:
    """:func:`vgg` with depth 11 (the study's CIFAR-10/SVHN model)."""
    return vgg(11, **kwargs)
