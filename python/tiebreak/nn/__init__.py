"""tiebreak's nonsmooth layers for ``torch.nn`` models.

- :class:`MaxPool2d`, :class:`ReLU`, :class:`NormPool2d` and their functional
  forms in :mod:`tiebreak.nn.functional`;
- :func:`convert`: an existing model with every ``nn.MaxPool2d``/``nn.ReLU``
  replaced by the β versions (as ``nn.SyncBatchNorm.convert_sync_batchnorm``);
- :func:`set_tie_counting` and :func:`tie_statistics`: the one switch for every
  layer's tie counter, and what they counted.
"""

from collections import OrderedDict
from typing import Dict

import torch

from . import functional
from .modules import MaxPool2d, NormPool2d, ReLU, TieStatistics

__all__ = [
    "MaxPool2d",
    "ReLU",
    "NormPool2d",
    "TieStatistics",
    "functional",
    "convert",
    "set_tie_counting",
    "tie_statistics",
]


def _replacement(module: torch.nn.Module, beta: float, formulation: str, relu_alpha: float):
    if isinstance(module, (torch.nn.MaxPool2d, MaxPool2d)):
        if getattr(module, "return_indices", False):
            raise ValueError(
                "tiebreak.nn.convert: a MaxPool2d with return_indices=True has no β version "
                "(the indices are native's choice i*; use tiebreak.nn.functional.max_pool2d(..., "
                "return_ties=True) for the ties)"
            )
        return MaxPool2d(module.kernel_size, module.stride, module.padding, module.dilation, module.ceil_mode,
                         beta, formulation)
    if isinstance(module, (torch.nn.ReLU, ReLU)):
        return ReLU(relu_alpha)
    return None


def convert(module: torch.nn.Module, beta: float = 0.0, formulation: str = "pure",
            relu_alpha: float = 0.0) -> torch.nn.Module:
    """Replaces every ``torch.nn.MaxPool2d`` and ``torch.nn.ReLU`` in ``module``
    (and every tiebreak one, to change its choice) by tiebreak's, with the same
    geometry and the given β, formulation and ReLU'(0).

    Works on any model built from modules, e.g. torchvision's ``resnet18()``;
    pooling or ReLU written as function calls inside a ``forward`` (``F.relu``)
    is not seen. ``nn.ReLU(inplace=True)`` becomes an out-of-place ReLU (same
    values). Returns ``module`` converted in place, or the replacement when
    ``module`` itself is a pool or a ReLU.

    Raises:
        ValueError: for a ``MaxPool2d(return_indices=True)``, an unknown
        formulation or a non-finite β or α.

    Example::

        model = tiebreak.nn.convert(torchvision.models.resnet18(), beta=1.0, formulation="mixture")
    """
    replacement = _replacement(module, beta, formulation, relu_alpha)
    if replacement is not None:
        return replacement
    for name, child in module.named_children():
        converted = convert(child, beta, formulation, relu_alpha)
        if converted is not child:
            setattr(module, name, converted)
    return module


def set_tie_counting(module: torch.nn.Module, enabled: bool = True, reset: bool = True) -> None:
    """Turns the tie counters of every tiebreak MaxPool2d and ReLU in ``module``
    on or off (counting costs one reduction per call and breaks a
    ``torch.compile`` graph at each layer); ``reset`` zeroes them."""
    for layer in module.modules():
        if isinstance(layer, (MaxPool2d, ReLU)):
            layer.count_ties = enabled
            if reset:
                layer.reset_tie_statistics()


def tie_statistics(module: torch.nn.Module) -> "OrderedDict[str, TieStatistics]":
    """The statistics of every tiebreak MaxPool2d and ReLU in ``module``, by
    qualified name (as ``named_modules``), e.g. ``{"features.pool1": …}``."""
    stats: Dict[str, TieStatistics] = OrderedDict()
    for name, layer in module.named_modules():
        if isinstance(layer, (MaxPool2d, ReLU)):
            stats[name] = layer.tie_statistics()
    return stats
