"""tiebreak's two formulations against their definitions:

- mixture: the study's own Python formulation β·MinNormPool(x) + (1−β)·MaxPool2d(x)
  (MinNormPool as the study's autograd Function: window max forward, the
  upstream gradient split evenly among the tied maxima backward), evaluated by
  PyTorch on the same device — bit for bit, forward and backward;
- pure: J_βᵀg in exact rational arithmetic (fractions.Fraction), and the bound
  the single rounding meets.
"""

import math
from fractions import Fraction

import pytest
import torch

from conftest import DTYPES, bits_equal

ops = torch.ops.tiebreak


class StudyMinNormPool(torch.autograd.Function):
    """The study's MinNormPool (stride = kernel, sizes divisible): forward the
    window max; backward g into every tied maximum, divided by their count."""

    @staticmethod
    def forward(ctx, x, k):
        n, c, h, w = x.shape
        windows = x.reshape(n, c, h // k, k, w // k, k)
        out = torch.amax(torch.amax(windows, 3), 4)
        ctx.save_for_backward(windows, out)
        ctx.shape = x.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        windows, out = ctx.saved_tensors
        mask = windows == out[:, :, :, None, :, None]
        dx = windows.new_zeros(windows.shape)
        dx[mask] = torch.broadcast_to(grad[:, :, :, None, :, None], dx.shape)[mask]
        dx /= torch.sum(mask, axis=(3, 5), keepdims=True)
        return dx.reshape(ctx.shape), None


def study_formulation(x, k, beta):
    return beta * StudyMinNormPool.apply(x, k) + (1 - beta) * torch.nn.functional.max_pool2d(x, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("k", [2, 3])
def test_mixture_is_the_studys_formulation_bit_for_bit(device, dtype, channels_last, k):
    torch.manual_seed(10)
    # Levels {−20, 10, 40, 70}: many ties; in fp16 β = 1000 overflows on the 70-windows (NaN both ways).
    x = (torch.randint(0, 4, (2, 3, 3 * k, 4 * k), dtype=torch.float64) * 30 - 20).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x = x.to(device)
    grad = torch.randn(2, 3, 3, 4, dtype=torch.float64).to(dtype).to(device)
    for beta in (0.0, 1.0, 0.5, -1.0, 10.0, 1000.0, 0.1):
        reference_leaf = x.clone().requires_grad_()
        reference = study_formulation(reference_leaf, k, beta)
        reference.backward(grad)
        leaf = x.clone().requires_grad_()
        ours = tiebreak_mixture = ops.max_pool2d(leaf, [k, k], [], [0, 0], [1, 1], False, beta, "mixture")
        tiebreak_mixture.backward(grad)
        assert bits_equal(ours, reference), (beta, "forward")
        assert bits_equal(leaf.grad, reference_leaf.grad), (beta, "backward")


# ---------------------------------------------------------------------------
# pure: exact rational reference


def exact_pure_backward(x, grad, kernel, stride, padding, beta):
    """J_βᵀg per element as Fractions, Σ(|β|/t + |1−β|·[i*])·|g| per element (the
    scale of the rounding error), and the number of contributions."""
    x = x.double()
    n, c, h, w = x.shape
    oh, ow = grad.shape[-2:]
    beta_q = Fraction(beta)
    exact, scale, count = {}, {}, {}
    for nc in range(n * c):
        plane = x.view(n * c, h, w)[nc].tolist()
        g_plane = grad.double().view(n * c, oh, ow)[nc].tolist()
        for i in range(oh):
            for j in range(ow):
                taps = [(a, b) for a in range(i * stride - padding, i * stride - padding + kernel)
                        for b in range(j * stride - padding, j * stride - padding + kernel) if 0 <= a < h and 0 <= b < w]
                values = [plane[a][b] for a, b in taps]
                top = max(values)
                selected = taps[values.index(top)]
                tied = [p for p, v in zip(taps, values) if v == top]
                g = Fraction(g_plane[i][j])
                t = len(tied)
                for p in set(tied) | {selected}:
                    entry = (beta_q / t if p in tied else 0) + ((1 - beta_q) if p == selected else 0)
                    if t == 1:
                        entry = Fraction(1)
                    key = (nc, p)
                    exact[key] = exact.get(key, 0) + entry * g
                    scale[key] = scale.get(key, 0) + (abs(beta_q) / t + (abs(1 - beta_q) if p == selected else 0)) * abs(g)
                    count[key] = count.get(key, 0) + 1
    return exact, scale, count


def rounded_to_float32(q: Fraction) -> float:
    return float(torch.tensor(float(q), dtype=torch.float64).to(torch.float32))


@pytest.mark.parametrize("beta", [0.1, 1 / 3, -2.5, 1000.0])
def test_pure_rounds_once_within_the_stated_bound_of_exact_arithmetic(beta):
    """The documented bound: for an element covered by m windows,
    |r − x| ≤ (m + 3)·2⁻⁵³·S in float64 (S = Σ (|β|/t + |1−β|·[i = i*])·|g|, x the
    exact J_βᵀg); in float32 r = fl32(x) except within that distance of a
    rounding midpoint (double accumulation, one rounding)."""
    torch.manual_seed(11)
    kernel, stride, padding = 3, 1, 1  # up to 9 windows per element
    x = torch.randint(0, 3, (1, 2, 6, 7), dtype=torch.float64)
    for dtype in (torch.float64, torch.float32):
        xs = x.to(dtype).clone().requires_grad_()
        y = ops.max_pool2d(xs, [kernel, kernel], [stride, stride], [padding, padding], [1, 1], False, beta, "pure")
        grad = torch.randn(y.shape, dtype=torch.float64).to(dtype)
        y.backward(grad)
        exact, scale, count = exact_pure_backward(xs.detach(), grad, kernel, stride, padding, beta)
        result = xs.grad.double().view(2, 6, 7)
        checked_midpoints = 0
        for (nc, (a, b)), q in exact.items():
            r = Fraction(result[nc, a, b].item())
            bound = (count[(nc, (a, b))] + 3) * Fraction(1, 2**53) * scale[(nc, (a, b))]
            if dtype == torch.float64:
                assert abs(r - q) <= bound, (nc, a, b)
            else:
                nearest = Fraction(rounded_to_float32(q))
                if nearest != 0:
                    ulp = Fraction(2) ** (math.frexp(float(nearest))[1] - 24)
                    if abs(abs(q - nearest) - ulp / 2) > bound:  # not within the bound of a midpoint
                        assert r == nearest, (nc, a, b)
                        checked_midpoints += 1
                assert abs(r - q) <= abs(q) * Fraction(1, 2**24) + bound
        assert count and max(count.values()) >= 4
        if dtype == torch.float32:
            assert checked_midpoints > 20  # most of the 84 elements get a gradient
