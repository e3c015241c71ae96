"""Reading the weights of a tiebreak run (``<run>/checkpoint.pt``) into a Python model.

The C++ trainer writes its checkpoints with ``torch::serialize::OutputArchive``
(src/train/checkpoint.cpp): a TorchScript archive whose ``model`` submodule
holds every parameter as ``param/<qualified name>`` and every buffer as
``buffer/<qualified name>`` (names as ``named_parameters``/``named_buffers``
give them, e.g. ``features.conv1.weight``), and whose ``meta`` attribute is the
run's JSON (epoch, metrics, identity). Python models with the same qualified
names (:mod:`tiebreak.models`, or your own) load it by name.
"""

import json
import os
from typing import Any, Dict, Union

import torch

_PARAM = "param/"
_BUFFER = "buffer/"


def read_checkpoint_state(path: Union[str, os.PathLike]) -> Dict[str, torch.Tensor]:
    """The model tensors of a tiebreak checkpoint as a ``state_dict`` (CPU tensors)."""
    archive = _open(path)
    state: Dict[str, torch.Tensor] = {}
    for name, tensor in list(archive.model.named_parameters()) + list(archive.model.named_buffers()):
        for prefix in (_PARAM, _BUFFER):
            if name.startswith(prefix):
                state[name[len(prefix):]] = tensor.detach()
                break
        else:
            raise ValueError(f"{path}: unexpected tensor {name!r} in the checkpoint's model (expected param/… or buffer/…)")
    return state


def load_checkpoint(model: torch.nn.Module, path: Union[str, os.PathLike], strict: bool = True) -> Dict[str, Any]:
    """Copies the parameters and buffers of the tiebreak checkpoint at ``path``
    into ``model`` by qualified name and returns the run's metadata (a dict:
    epoch, metrics, …). The model keeps its device and dtypes.

    With ``strict`` (the default) every name must match both ways; a missing or
    unexpected name, or a shape that differs, is a ``ValueError`` naming the file
    and the tensor, and nothing is copied.

    Example::

        model = tiebreak.models.lenet5(beta=1000.0, formulation="mixture")
        meta = tiebreak.load_checkpoint(model, "runs/mnist/beta=1000/checkpoint.pt")
    """
    state = read_checkpoint_state(path)
    own = model.state_dict()
    missing = [name for name in own if name not in state]
    unexpected = [name for name in state if name not in own]
    if strict and (missing or unexpected):
        raise ValueError(
            f"{path}: the checkpoint does not match the model by name: missing {missing[:5]}"
            f"{' …' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}{' …' if len(unexpected) > 5 else ''}"
        )
    for name, tensor in state.items():
        if name in own and own[name].shape != tensor.shape:
            raise ValueError(
                f"{path}: tensor {name!r} has shape {list(tensor.shape)} in the checkpoint, "
                f"{list(own[name].shape)} in the model"
            )
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=strict)
    return json.loads(_open(path).meta)


def _open(path: Union[str, os.PathLike]):
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such checkpoint file")
    try:
        archive = torch.jit.load(os.fspath(path), map_location="cpu")
    except Exception as error:  # noqa: BLE001 (any reader error means: not a readable checkpoint)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path}: not a readable tiebreak checkpoint ({first_line})") from None
    if not hasattr(archive, "model") or not hasattr(archive, "meta"):
        raise ValueError(f"{path}: not a tiebreak checkpoint (no model or meta entry)")
    return archive
