"""Shared fixtures of the tiebreak Python tests (run by ctest as `python -m pytest tests/python`).

ctest runs the package from the checkout (PYTHONPATH=python) with the build
tree's operator library (TIEBREAK_OPS_LIBRARY); after `pip install .` the same
tests run against the installed package.
"""

import os

import pytest
import torch

import tiebreak  # noqa: F401  (loads the operators)

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


def devices():
    found = ["cpu"]
    if torch.cuda.is_available() and torch._C._dispatch_has_kernel_for_dispatch_key(
        "tiebreak::_max_pool2d_forward", "CUDA"
    ):
        found.append("cuda")
    elif os.environ.get("TIEBREAK_REQUIRE_CUDA") == "1":
        # The GPU check (scripts/gpu/check.sh) must not pass by running on the CPU alone.
        raise RuntimeError("TIEBREAK_REQUIRE_CUDA=1: no CUDA device or no CUDA kernels for tiebreak's operators")
    return found


@pytest.fixture(params=devices())
def device(request):
    return request.param


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same dtype, shape and bits (NaN where the other is NaN, payload ignored)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    a, b = a.detach().cpu(), b.detach().cpu()
    nan = torch.isnan(a)
    if not torch.equal(nan, torch.isnan(b)):
        return False
    view = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return torch.equal(a.masked_fill(nan, 0).contiguous().view(view), b.masked_fill(nan, 0).contiguous().view(view))
