"""tiebreak's nonsmooth layers as ``torch.nn`` modules, with per-layer tie statistics."""

import math
from dataclasses import dataclass
from typing import Optional

import torch

from . import functional as F
from .functional import FORMULATIONS, IntPair


@dataclass
class TieStatistics:
    """What a layer saw since its statistics were last reset.

    For a pooling layer a point is a window and a tie a window with ``t >= 2``
    equal maxima (``max_ties`` is the largest ``t``); for a ReLU a point is an
    input element and a tie an exact zero (+0 or −0), where ReLU'(0) = α acts.
    """

    calls: int = 0
    points: int = 0
    ties: int = 0
    max_ties: int = 0

    @property
    def tie_fraction(self) -> float:
        return self.ties / self.points if self.points else 0.0


class _TieCounting:
    """Per-layer tie counter. Off by default (the forward is then one operator
    call, which ``torch.compile`` traces without a graph break); while on,
    counts accumulate in tensors on the data's device and are read (one
    synchronisation) by :meth:`tie_statistics`."""

    def _init_counting(self) -> None:
        self.count_ties = False
        self.reset_tie_statistics()

    def reset_tie_statistics(self) -> None:
        self._calls = 0
        self._points = 0
        self._ties: Optional[torch.Tensor] = None
        self._max_ties: Optional[torch.Tensor] = None

    def _record(self, points: int, ties: torch.Tensor, max_ties: torch.Tensor) -> None:
        self._calls += 1
        self._points += points
        if self._ties is None or self._ties.device != ties.device:
            self._ties = ties.clone() if self._ties is None else self._ties.to(ties.device) + ties
            self._max_ties = (
                max_ties.clone()
                if self._max_ties is None
                else torch.maximum(self._max_ties.to(max_ties.device), max_ties)
            )
        else:
            self._ties += ties
            self._max_ties = torch.maximum(self._max_ties, max_ties)

    def tie_statistics(self) -> TieStatistics:
        return TieStatistics(
            calls=self._calls,
            points=self._points,
            ties=0 if self._ties is None else int(self._ties.item()),
            max_ties=0 if self._max_ties is None else int(self._max_ties.item()),
        )


def _check_finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class MaxPool2d(_TieCounting, torch.nn.Module):
    r"""Max pooling with the Jacobian :math:`J_\beta = \beta J_{\min} + (1-\beta) J_{\mathrm{nat}}`.

    Same arguments, output shape and layout as :class:`torch.nn.MaxPool2d`
    (no ``return_indices``), plus ``beta`` and ``formulation``; see
    :func:`tiebreak.nn.functional.max_pool2d` for the semantics. With
    ``beta=0`` and ``formulation="pure"`` it is ``torch.nn.MaxPool2d``, bit for
    bit, forward and backward.

    Shapes: input ``(N, C, H, W)`` or ``(C, H, W)``; output ``(N, C, H_out, W_out)``
    as in :class:`torch.nn.MaxPool2d`.

    Tie statistics: set ``count_ties = True``, run, then read
    :meth:`tie_statistics` (windows, tied windows, largest number of tied maxima).

    Example::

        pool = tiebreak.nn.MaxPool2d(2, beta=1000.0, formulation="mixture")
        pool.count_ties = True
        y = pool(x)
        print(pool.tie_statistics().tie_fraction)
    """

    def __init__(
        self,
        kernel_size: IntPair,
        stride: Optional[IntPair] = None,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        ceil_mode: bool = False,
        beta: float = 0.0,
        formulation: str = "pure",
    ) -> None:
        super().__init__()
        if formulation not in FORMULATIONS:
            raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode
        self.beta = _check_finite("beta", beta)
        self.formulation = formulation
        self._init_counting()

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        args = (input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.beta,
                self.formulation)
        if not self.count_ties:
            return F.max_pool2d(*args)
        output, ties = F.max_pool2d(*args, return_ties=True)
        ties = ties.detach()
        max_ties = ties.max().long() if ties.numel() else torch.zeros((), dtype=torch.long, device=ties.device)
        self._record(ties.numel(), ties.ge(2).sum(), max_ties)
        return output

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}, beta={self.beta}, "
            f"formulation={self.formulation}"
        )


class ReLU(_TieCounting, torch.nn.Module):
    r"""ReLU whose derivative at 0 is ``alpha`` (:func:`tiebreak.nn.functional.relu`).

    Forward is :func:`torch.relu`; backward :math:`g` for :math:`x > 0`, 0 for
    :math:`x < 0`, :math:`\alpha g` at :math:`x = \pm 0`. Any shape. With
    ``count_ties = True`` it counts the exact zeros it sees.

    Example::

        relu = tiebreak.nn.ReLU(alpha=1.0)
    """

    def __init__(self, alpha: float = 0.0) -> None:
        super().__init__()
        self.alpha = _check_finite("alpha", alpha)
        self._init_counting()

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.count_ties:
            zeros = input.detach().eq(0).sum()
            self._record(input.numel(), zeros, torch.zeros_like(zeros))
        return F.relu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class NormPool2d(torch.nn.Module):
    r"""L2 pooling :math:`\sqrt{\sum x^2}` per window (:func:`tiebreak.nn.functional.norm_pool2d`).

    Every element of an all-zero window gets ``grad_at_zero``·g in the backward
    pass (the study's NormPool variants use 0 and 1).

    Shapes: input ``(N, C, H, W)`` or ``(C, H, W)``; output pooled as
    :class:`torch.nn.AvgPool2d` with the same kernel, stride and padding.

    Example::

        pool = tiebreak.nn.NormPool2d(2, grad_at_zero=1.0)
    """

    def __init__(
        self,
        kernel_size: IntPair,
        stride: Optional[IntPair] = None,
        padding: IntPair = 0,
        grad_at_zero: float = 0.0,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.grad_at_zero = _check_finite("grad_at_zero", grad_at_zero)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.norm_pool2d(input, self.kernel_size, self.stride, self.padding, self.grad_at_zero)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"grad_at_zero={self.grad_at_zero}"
        )
