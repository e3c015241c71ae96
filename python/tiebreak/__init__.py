"""tiebreak: the nonsmooth Jacobian choices of MaxPool and ReLU as PyTorch operators.

Automatic differentiation must pick one element of the Clarke Jacobian where a
function is not differentiable: which input of a MaxPool window gets the
gradient when several tie for the maximum, what ReLU'(0) is. This package
exposes tiebreak's C++/CUDA operators, which make those choices explicit, as in
"On the numerical reliability of nonsmooth autodiff: a MaxPool case study"
(Boustany, TMLR 2024):

>>> import torch, tiebreak
>>> pool = tiebreak.nn.MaxPool2d(2, beta=1.0)          # J_β with β = 1: the minimal-norm element
>>> y = pool(torch.randn(8, 3, 32, 32, requires_grad=True))

``import tiebreak`` loads the operators into ``torch.ops.tiebreak`` (schemas in
the README); ``tiebreak.nn`` has the modules, their functional forms,
per-layer tie statistics and ``convert`` for existing models;
``tiebreak.models`` the study's LeNet5 and VGG with tiebreak's parameter
names; ``tiebreak.load_checkpoint`` reads the weights of a run of the
``tiebreak`` command line program into such a model.
"""

import os

import torch

__version__ = "0.1.0"


def _library_path() -> str:
    # TIEBREAK_OPS_LIBRARY points at a build tree's library (the test suite runs
    # the package from the checkout this way); installed, it sits beside us.
    override = os.environ.get("TIEBREAK_OPS_LIBRARY")
    if override:
        return override
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "libtiebreak_ops.so")


def _load() -> None:
    path = _library_path()
    if not os.path.exists(path):
        raise ImportError(
            f"tiebreak: the operator library {path} does not exist; install the package with "
            "`pip install .` from a tiebreak checkout, or set TIEBREAK_OPS_LIBRARY to a built "
            "libtiebreak_ops.so"
        )
    torch.ops.load_library(path)


_load()

#: The dispatcher namespace of the operators: ``ops.max_pool2d``, ``ops.max_pool2d_with_ties``,
#: ``ops.relu``, ``ops.norm_pool2d`` and the internal ``ops._max_pool2d_forward`` … kernels.
ops = torch.ops.tiebreak

from . import models, nn  # noqa: E402  (needs the operators)
from .checkpoint import load_checkpoint  # noqa: E402

__all__ = ["ops", "nn", "models", "load_checkpoint", "__version__"]
