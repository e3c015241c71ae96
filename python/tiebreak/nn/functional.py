"""Stateless forms of tiebreak's nonsmooth layers (the ``torch.nn.functional`` way).

Each calls one ``torch.ops.tiebreak`` operator, so it is differentiable (to any
order), traceable by ``torch.compile`` and ``torch.export``, and runs on every
device the operators have kernels for (CPU; CUDA when built with nvcc).
"""

from typing import Optional, Sequence, Tuple, Union

import torch

IntPair = Union[int, Sequence[int]]

FORMULATIONS = ("pure", "mixture")


def _pair(value: IntPair, name: str) -> list:
    if isinstance(value, int):
        return [value, value]
    values = list(value)
    if len(values) not in (1, 2) or not all(isinstance(v, int) for v in values):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return values * 2 if len(values) == 1 else values


def max_pool2d(
    input: torch.Tensor,
    kernel_size: IntPair,
    stride: Optional[IntPair] = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    beta: float = 0.0,
    formulation: str = "pure",
    return_ties: bool = False,
) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    r"""2-D max pooling whose backward is :math:`J_\beta = \beta J_{\min} + (1-\beta) J_{\mathrm{nat}}`.

    For a window with upstream gradient :math:`g`, :math:`t` positions equal to
    its maximum and native max_pool2d's choice :math:`i^*` (the first maximum,
    the last NaN), :math:`\beta g / t` goes to each tied position and
    :math:`(1-\beta) g` to :math:`i^*`. ``beta=0`` is PyTorch's own
    ``max_pool2d``; ``beta=1`` the minimal-norm element of the Clarke
    Jacobian; any finite real is allowed (Boustany, TMLR 2024, §3).

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``, NCHW or channels-last,
            Half/BFloat16/Float/Double; ``C``, ``H``, ``W`` non-zero (``N`` may be 0).
        kernel_size, stride, padding, dilation, ceil_mode: as
            :func:`torch.nn.functional.max_pool2d` (``stride`` defaults to
            ``kernel_size``); the output has native's shape and layout.
        beta: the Jacobian choice β (finite).
        formulation: ``"pure"``: the forward is exactly native ``max_pool2d``
            and the backward :math:`J_\beta^\top g` rounded once per element
            (accumulated in float for Half/BFloat16, double for Float);
            ``"mixture"``: the study's ``β·MinNormPool(x) + (1−β)·MaxPool2d(x)``
            as PyTorch evaluates it on the device, bit for bit (so in fp16
            :math:`\beta m` overflows to NaN when :math:`m > 65504/\beta`).
        return_ties: also return ``ties`` (int32, output-shaped): how many
            window positions equal the window's maximum (1 for a NaN window, 0
            for a dilated window with no tap inside the input).

    Returns:
        The pooled tensor, or ``(output, ties)``.

    Raises:
        RuntimeError: for a bad rank, dtype, geometry, non-finite β or an unknown
        formulation, with a message naming the argument (e.g.
        ``max_pool2d: beta must be finite, got inf``).

    Double backward: :math:`J_\beta` is piecewise constant in ``x``, so the
    backward's derivative with respect to the upstream gradient is
    :math:`J_\beta` itself and with respect to ``x`` zero (almost everywhere);
    gradient penalties and Hessian-vector products work for every β.
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
    kernel = _pair(kernel_size, "kernel_size")
    args = (
        input,
        kernel,
        [] if stride is None else _pair(stride, "stride"),
        _pair(padding, "padding"),
        _pair(dilation, "dilation"),
        bool(ceil_mode),
        float(beta),
        formulation,
    )
    if return_ties:
        return torch.ops.tiebreak.max_pool2d_with_ties(*args)
    return torch.ops.tiebreak.max_pool2d(*args)


def relu(input: torch.Tensor, alpha: float = 0.0) -> torch.Tensor:
    r"""ReLU whose derivative at 0 is ``alpha``.

    The forward is :func:`torch.relu` bit for bit (NaN propagates). The backward
    gives :math:`g` for :math:`x > 0` (and NaN), 0 for :math:`x < 0` and
    :math:`\alpha g` at :math:`x = \pm 0`, rounded once; ``alpha=0`` is PyTorch's
    own choice (Boustany, TMLR 2024, §2). Any shape, floating dtype and device.

    Raises:
        RuntimeError: for an integer input or a non-finite ``alpha``.
    """
    return torch.ops.tiebreak.relu(input, float(alpha))


def norm_pool2d(
    input: torch.Tensor,
    kernel_size: IntPair,
    stride: Optional[IntPair] = None,
    padding: IntPair = 0,
    grad_at_zero: float = 0.0,
) -> torch.Tensor:
    r"""L2 pooling: :math:`\sqrt{\sum x^2}` over each window (dilation 1, floor mode).

    The sum of squares is taken in double (scaled by the window's largest
    :math:`|x|` for Double inputs out of range), so a window with one nonzero
    value :math:`x` has norm :math:`|x|` even where :math:`x^2` leaves the
    dtype's range. Backward: :math:`(x_l / n)\,g` for a window of norm
    :math:`n \ne 0`; every element of an all-zero window gets
    ``grad_at_zero``·g (0 and 1 are the two variants the study compares).

    Args:
        input: ``(N, C, H, W)`` or ``(C, H, W)``, any floating dtype; the
            output keeps the input's memory format.
        kernel_size, stride, padding: as :func:`max_pool2d` (``stride``
            defaults to ``kernel_size``).
        grad_at_zero: the all-zero window's gradient factor (finite).
    """
    return torch.ops.tiebreak.norm_pool2d(
        input,
        _pair(kernel_size, "kernel_size"),
        [] if stride is None else _pair(stride, "stride"),
        _pair(padding, "padding"),
        float(grad_at_zero),
    )
