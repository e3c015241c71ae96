"""The operators as PyTorch sees them: torch.library.opcheck for every op,
double backward, and the J_β values from the definitions."""

import math

import pytest
import torch
from torch.library import opcheck

from conftest import DTYPES, bits_equal

ops = torch.ops.tiebreak

# Overlapping padded windows (the stem pool), tiled windows, dilated ceil-mode windows.
GEOMETRIES = [
    dict(kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], dilation=[1, 1], ceil_mode=False),
    dict(kernel_size=[2, 2], stride=[2, 2], padding=[0, 0], dilation=[1, 1], ceil_mode=False),
    dict(kernel_size=[3, 2], stride=[2, 1], padding=[1, 0], dilation=[2, 1], ceil_mode=True),
]


def tied_input(dtype, channels_last, device, requires_grad=True):
    x = torch.randint(0, 3, (2, 3, 9, 8), dtype=torch.float64).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x.to(device).requires_grad_(requires_grad)


def pool_args(x, geometry, beta, formulation):
    g = geometry
    return (x, g["kernel_size"], g["stride"], g["padding"], g["dilation"], g["ceil_mode"], beta, formulation)


# ---------------------------------------------------------------------------
# opcheck: test_schema, test_autograd_registration, test_faketensor, test_aot_dispatch_dynamic


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_opcheck_every_pooling_op_every_dtype_and_layout(device, dtype, channels_last):
    torch.manual_seed(0)
    x = tied_input(dtype, channels_last, device)
    geometry = GEOMETRIES[0]
    for op in (ops.max_pool2d.default, ops.max_pool2d_with_ties.default, ops._max_pool2d_forward.default):
        opcheck(op, pool_args(x, geometry, 0.5, "pure"))
    output, indices, ties = ops._max_pool2d_forward(*pool_args(x.detach(), geometry, 0.5, "mixture"))
    grad = torch.randn_like(output).requires_grad_()
    opcheck(ops._max_pool2d_backward.default, (grad, x.detach(), indices, ties, *pool_args(None, geometry, 0.5, "mixture")[1:]))
    opcheck(ops.norm_pool2d.default, (x, [2, 2], [2, 2], [0, 0], 1.0))
    opcheck(ops._norm_pool2d_forward.default, (x, [3, 3], [1, 1], [1, 1], 0.0))
    norm = ops._norm_pool2d_forward(x.detach(), [2, 2], [2, 2], [0, 0], 1.0)
    opcheck(ops._norm_pool2d_backward.default, (torch.randn_like(norm).requires_grad_(), x, norm, [2, 2], [2, 2], [0, 0], 1.0))
    opcheck(ops.relu.default, (x, 0.5))
    opcheck(ops._relu_backward.default, (torch.randn_like(x).requires_grad_(), x.detach(), 0.25))


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("formulation", ["pure", "mixture"])
@pytest.mark.parametrize("beta", [-1.5, 1000.0])
def test_opcheck_max_pool2d_every_geometry_formulation_and_beta(device, geometry, formulation, beta):
    torch.manual_seed(1)
    x = tied_input(torch.float32, False, device)
    opcheck(ops.max_pool2d.default, pool_args(x, geometry, beta, formulation))
    output, indices, ties = ops._max_pool2d_forward(*pool_args(x.detach(), geometry, beta, formulation))
    grad = torch.randn_like(output).requires_grad_()
    opcheck(ops._max_pool2d_backward.default, (grad, x.detach(), indices, ties, *pool_args(None, geometry, beta, formulation)[1:]))


# ---------------------------------------------------------------------------
# First and second order


def test_tie_gradients_match_the_beta_jacobian():
    for beta, expected in [(0.0, [1, 0, 0, 0]), (1.0, [0.5, 0.5, 0, 0]), (1000.0, [-499, 500, 0, 0])]:
        for formulation in ("pure", "mixture"):
            x = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]], requires_grad=True)
            ops.max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], False, beta, formulation).sum().backward()
            assert x.grad.flatten().tolist() == expected, (beta, formulation)


def test_issue_double_backward_example_gives_w_at_the_chosen_positions():
    # float64, seed 5, x = randn(1,1,4,4), v = ones, w = arange(1,17): grad((gx*w).sum(), v) = [1, 7, 14, 16].
    torch.manual_seed(5)
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.arange(1, 17, dtype=torch.float64).view(1, 1, 4, 4)
    for beta in (0.0, 1.0):
        for formulation in ("pure", "mixture"):
            v = torch.ones(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
            y = ops.max_pool2d(x, [2, 2], [], [0, 0], [1, 1], False, beta, formulation)
            (gx,) = torch.autograd.grad(y, x, v, create_graph=True)
            (gv,) = torch.autograd.grad((gx * w).sum(), v)
            assert gv.flatten().tolist() == [1.0, 7.0, 14.0, 16.0], (beta, formulation)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 3.0, -2.0])
def test_double_backward_on_tied_windows_is_j_beta_of_the_incoming_gradient(beta):
    # Window values (t, i*): [5,5,1,0] (2, 0); [2,7,7,7] (3, 1); [3,0,1,2] (1, 0); [4,4,4,4] (4, 0).
    x = torch.tensor([[5.0, 5.0, 2.0, 7.0], [1.0, 0.0, 7.0, 7.0], [3.0, 0.0, 4.0, 4.0], [1.0, 2.0, 4.0, 4.0]],
                     dtype=torch.float64).view(1, 1, 4, 4).requires_grad_()
    w = torch.arange(1, 17, dtype=torch.float64).view(1, 1, 4, 4)
    expected = [
        (1 - beta) * 1 + beta * (1 + 2) / 2,
        (1 - beta) * 4 + beta * (4 + 7 + 8) / 3,
        9.0,
        (1 - beta) * 11 + beta * (11 + 12 + 15 + 16) / 4,
    ]
    for formulation in ("pure", "mixture"):
        v = torch.ones(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
        y = ops.max_pool2d(x, [2, 2], [], [0, 0], [1, 1], False, beta, formulation)
        (gx,) = torch.autograd.grad(y, x, v, create_graph=True)
        gv, gx2 = torch.autograd.grad((gx * w).sum(), (v, x), allow_unused=True)
        assert gv.flatten().tolist() == pytest.approx(expected, abs=1e-12), formulation
        assert gx2 is None or bool((gx2 == 0).all())  # J_β is piecewise constant in x


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("formulation", ["pure", "mixture"])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 1000.0])
def test_gradcheck_and_gradgradcheck_max_pool2d_on_tie_free_inputs(geometry, formulation, beta):
    torch.manual_seed(2)
    # Distinct values 0.25 apart (plus noise below 0.1): no ties, stable under gradcheck's steps.
    x = (torch.randperm(2 * 9 * 8, dtype=torch.float64) * 0.25 + torch.rand(2 * 9 * 8, dtype=torch.float64) * 0.1)
    x = x.view(1, 2, 9, 8).requires_grad_()
    f = lambda t: ops.max_pool2d(*pool_args(t, geometry, beta, formulation))  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, -3.0])
def test_gradcheck_and_gradgradcheck_relu(alpha):
    torch.manual_seed(3)
    x = torch.randn(3, 7, dtype=torch.float64)
    x = (x + 0.2 * x.sign()).requires_grad_()  # away from 0, where ReLU is smooth
    f = lambda t: ops.relu(t, alpha)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


def test_relu_second_order_at_zero_is_alpha_times_the_incoming_gradient():
    x = torch.tensor([-1.0, 0.0, -0.0, 2.0], dtype=torch.float64, requires_grad=True)
    v = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(ops.relu(x, 0.25), x, v, create_graph=True)
    assert gx.tolist() == [0.0, 0.5, 0.75, 4.0]
    (gv,) = torch.autograd.grad((gx * torch.tensor([5.0, 6.0, 7.0, 8.0], dtype=torch.float64)).sum(), v)
    assert gv.tolist() == [0.0, 1.5, 1.75, 8.0]


@pytest.mark.parametrize("geometry", [([2, 2], [2, 2], [0, 0]), ([3, 3], [1, 1], [1, 1]), ([3, 2], [2, 1], [1, 0])])
@pytest.mark.parametrize("grad_at_zero", [0.0, 1.0])
def test_gradcheck_and_gradgradcheck_norm_pool2d(geometry, grad_at_zero):
    torch.manual_seed(4)
    x = torch.randn(2, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    f = lambda t: ops.norm_pool2d(t, *geometry, grad_at_zero)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


def test_gradient_penalty_through_conv_beta_pool_conv_equals_the_hand_computation():
    # P(W1, W2) = ||∂L/∂x||² with L = <conv2(pool(conv1(x))), u>. With J_β frozen at the
    # current tie pattern (it is piecewise constant in x and W), ∂L/∂x = conv1ᵀ J_βᵀ conv2ᵀ u:
    # written here with native convolutions and J_β built from the definition.
    torch.manual_seed(6)
    beta = 0.75
    x = torch.randint(-1, 2, (1, 1, 6, 6), dtype=torch.float64).requires_grad_()
    w1 = torch.randint(-1, 2, (2, 1, 3, 3), dtype=torch.float64).requires_grad_()
    w2 = torch.randn(1, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    u = torch.randn(1, 1, 2, 2, dtype=torch.float64)

    z = torch.nn.functional.conv2d(x, w1, padding=1)
    pooled = ops.max_pool2d(z, [2, 2], [], [0, 0], [1, 1], False, beta, "pure")
    loss = (torch.nn.functional.conv2d(pooled, w2) * u).sum()
    (gx,) = torch.autograd.grad(loss, x, create_graph=True)
    g1, g2 = torch.autograd.grad((gx**2).sum(), (w1, w2))

    # J_β as a matrix (pooled element × z element), from tie sets by exact equality.
    zd = z.detach()
    jac = torch.zeros(2 * 3 * 3, 2 * 6 * 6, dtype=torch.float64)
    for c in range(2):
        for oh in range(3):
            for ow in range(3):
                window = [(c, 2 * oh + i, 2 * ow + j) for i in range(2) for j in range(2)]
                values = [zd[0, cc, h, w].item() for cc, h, w in window]
                top = max(values)
                tied = [p for p, v in zip(window, values) if v == top]
                first = window[values.index(top)]
                row = (c * 3 + oh) * 3 + ow
                for cc, h, w in tied:
                    jac[row, (cc * 6 + h) * 6 + w] += beta / len(tied)
                jac[row, (first[0] * 6 + first[1]) * 6 + first[2]] += 1 - beta
    assert int((jac != 0).sum(1).gt(1).sum()) > 0, "the example must have tied windows"

    def penalty(a1, a2):
        g_pooled = torch.nn.grad.conv2d_input((1, 2, 3, 3), a2, u)
        g_z = (g_pooled.reshape(1, -1) @ jac).view(1, 2, 6, 6)
        g_x = torch.nn.grad.conv2d_input((1, 1, 6, 6), a1, g_z, padding=1)
        return (g_x**2).sum()

    h1, h2 = torch.autograd.grad(penalty(w1, w2), (w1, w2))
    assert torch.allclose(g1, h1, rtol=1e-12, atol=1e-12)
    assert torch.allclose(g2, h2, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Errors name the argument


def test_bad_arguments_raise_one_line_errors_naming_them():
    x = torch.ones(1, 1, 4, 4)
    with pytest.raises(RuntimeError, match='formulation must be "pure" or "mixture", got "nope"'):
        ops.max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], False, 1.0, "nope")
    with pytest.raises(RuntimeError, match="max_pool2d: beta must be finite, got inf"):
        ops.max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], False, math.inf, "pure")
    with pytest.raises(RuntimeError, match="Expected 3D or 4D \\(batch mode\\) tensor with optional 0 dim batch size"):
        ops.max_pool2d(torch.randn(2, 0, 8, 8), [2, 2])
    with pytest.raises(RuntimeError, match="norm_pool2d: Expected 3D or 4D"):
        ops.norm_pool2d(torch.randn(2, 0, 8, 8), [2, 2])
    with pytest.raises(RuntimeError, match="relu: alpha \\(ReLU'\\(0\\)\\) must be finite, got nan"):
        ops.relu(x, math.nan)
