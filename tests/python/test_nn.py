"""tiebreak.nn and tiebreak.models: modules, tie statistics, convert, torch.compile,
torch.export, and loading a checkpoint of the C++ trainer."""

import json
import os
import shutil
import subprocess

import pytest
import torch

import tiebreak
from conftest import bits_equal

tnn = tiebreak.nn


def known_ties():
    """1×1×4×4 whose four 2×2 windows have t = 4, 2, 1, 1."""
    return torch.tensor([[3.0, 3.0, 7.0, 1.0], [3.0, 3.0, 7.0, 2.0], [0.0, 9.0, 4.0, 5.0], [1.0, 2.0, 6.0, 3.0]]).view(
        1, 1, 4, 4
    )


def test_modules_match_the_functional_forms_and_native_at_beta_zero():
    torch.manual_seed(0)
    x = torch.randint(0, 3, (2, 3, 9, 9)).float().requires_grad_()
    native = torch.nn.MaxPool2d(3, 2, 1)
    pool = tnn.MaxPool2d(3, 2, 1)
    y, y_native = pool(x), native(x)
    assert bits_equal(y, y_native)
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    (gx_native,) = torch.autograd.grad(y_native, x, g)
    assert bits_equal(gx, gx_native)  # float32: exact sums of small tied gradients
    mixture = tnn.MaxPool2d(2, beta=1000.0, formulation="mixture")
    assert bits_equal(mixture(x), tnn.functional.max_pool2d(x, 2, beta=1000.0, formulation="mixture"))
    assert "beta=1000.0, formulation=mixture" in repr(mixture)
    assert bits_equal(tnn.ReLU(0.5)(x - 1), torch.relu(x - 1))
    assert bits_equal(tnn.NormPool2d(2, grad_at_zero=1.0)(x), tnn.functional.norm_pool2d(x, 2, grad_at_zero=1.0))


def test_bad_module_arguments_are_errors_naming_them():
    with pytest.raises(ValueError, match="formulation must be one of"):
        tnn.MaxPool2d(2, formulation="both")
    with pytest.raises(ValueError, match="beta must be finite, got inf"):
        tnn.MaxPool2d(2, beta=float("inf"))
    with pytest.raises(ValueError, match="alpha must be finite"):
        tnn.ReLU(float("nan"))
    with pytest.raises(RuntimeError, match="max_pool2d: stride must be greater than zero"):
        tnn.MaxPool2d(2, stride=0)(torch.ones(1, 1, 4, 4))


def test_tie_statistics_count_windows_tied_windows_and_the_largest_t():
    model = torch.nn.Sequential(tnn.ReLU(), tnn.MaxPool2d(2))
    model(known_ties())
    assert tnn.tie_statistics(model)["1"].calls == 0  # off by default
    tnn.set_tie_counting(model, True)
    model(known_ties())
    model(known_ties())
    stats = tnn.tie_statistics(model)
    assert stats["1"] == tnn.TieStatistics(calls=2, points=8, ties=4, max_ties=4)
    assert stats["1"].tie_fraction == 0.5
    assert stats["0"] == tnn.TieStatistics(calls=2, points=32, ties=2, max_ties=0)  # its one zero, twice
    tnn.set_tie_counting(model, False, reset=False)
    model(known_ties())
    assert tnn.tie_statistics(model)["1"].calls == 2
    tnn.set_tie_counting(model, True)
    assert tnn.tie_statistics(model)["1"].calls == 0


def test_convert_replaces_pools_and_relus_keeping_geometry():
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(inplace=True),
        torch.nn.MaxPool2d(3, 2, 1, dilation=1, ceil_mode=True),
        torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d((2, 3), stride=(1, 2))),
    )
    x = torch.randn(2, 1, 13, 13)
    eager = model(x)
    converted = tnn.convert(model, beta=1.0, formulation="mixture", relu_alpha=0.5)
    assert converted is model
    kinds = [type(m) for m in model.modules()]
    assert torch.nn.MaxPool2d not in kinds and torch.nn.ReLU not in kinds
    assert kinds.count(tnn.MaxPool2d) == 2 and kinds.count(tnn.ReLU) == 2
    stem = model[2]
    assert (stem.kernel_size, stem.stride, stem.padding, stem.ceil_mode, stem.beta, stem.formulation) == (
        3, 2, 1, True, 1.0, "mixture")
    assert model[3][2].kernel_size == (2, 3) and model[3][2].stride == (1, 2)
    assert model[1].alpha == 0.5
    # β = 1 and the mixture leave the forward at the window max (x·1 + x·0).
    assert bits_equal(model(x), eager)
    back = tnn.convert(model, beta=0.0)
    assert back[2].beta == 0.0 and back[2].formulation == "pure" and back[1].alpha == 0.0
    with pytest.raises(ValueError, match="return_indices"):
        tnn.convert(torch.nn.MaxPool2d(2, return_indices=True))


def test_convert_torchvision_resnet18():
    torchvision = pytest.importorskip("torchvision", reason="torchvision is not installed (optional)")
    model = tnn.convert(torchvision.models.resnet18(), beta=1.0)
    assert isinstance(model.maxpool, tnn.MaxPool2d) and model.maxpool.kernel_size == 3
    assert isinstance(model.layer1[0].relu, tnn.ReLU)
    model(torch.randn(1, 3, 64, 64)).sum().backward()


# ---------------------------------------------------------------------------
# torch.compile and torch.export


def models():
    return [
        ("lenet5", lambda: tiebreak.models.lenet5(beta=1000.0, formulation="mixture", relu_alpha=0.5),
         (4, 1, 28, 28)),
        ("vgg11", lambda: tiebreak.models.vgg11(beta=1.0, formulation="pure", relu_alpha=1.0), (2, 3, 32, 32)),
    ]


def quantized_input(shape):
    # Coarse values: ReLU zeros and tied pooling windows all the way down.
    return (torch.randint(-2, 3, shape) / 2).float()


def compiled_and_eager(build, shape, backend):
    torch.manual_seed(2)
    model = build()
    x = quantized_input(shape)
    eager_out = model(x)
    eager_out.sum().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    out = torch.compile(model, fullgraph=True, backend=backend)(x)
    out.sum().backward()
    return (out, eager_out), [(name, p.grad, g) for (name, p), g in zip(model.named_parameters(), eager_grads)]


@pytest.mark.parametrize("name,build,shape", models())
def test_torch_compile_fullgraph_is_bit_exact_forward_and_backward(name, build, shape):
    # AOTAutograd's traced forward and backward graphs (through the operators'
    # Meta kernels and autograd), run with eager kernels: the same bits.
    (out, eager_out), grads = compiled_and_eager(build, shape, "aot_eager")
    assert bits_equal(out, eager_out), name
    for pname, grad, eager_grad in grads:
        assert bits_equal(grad, eager_grad), (name, pname)


@pytest.mark.heavy
@pytest.mark.parametrize("name,build,shape", models())
def test_torch_compile_inductor_fullgraph_matches_eager(name, build, shape):
    # Inductor generates its own code for the native layers around the
    # operators (matrix products, bias adds, reductions), so it matches eager to
    # rounding, not bit for bit; the operators themselves run as extern kernels.
    # Measured on LeNet5 (2026-11-30, 2-core AVX-512 CPU): up to 5e-5 of each
    # tensor's largest entry, from fp32 sums of up to 400 products taken in
    # another order; the bound leaves 20x that. That the compiled graph calls
    # the operators exactly is the aot_eager test's job (bit for bit, above).
    (out, eager_out), grads = compiled_and_eager(build, shape, "inductor")

    def close(a, b):
        return (a - b).abs().max() <= 1e-3 * b.abs().max()

    assert close(out, eager_out), name
    for pname, grad, eager_grad in grads:
        assert close(grad, eager_grad), (name, pname)


@pytest.mark.parametrize("name,build,shape", models())
def test_torch_export_gives_the_eager_result(name, build, shape):
    torch.manual_seed(3)
    model = build().eval()
    x = quantized_input(shape)
    exported = torch.export.export(model, (x,))
    targets = {str(node.target) for node in exported.graph.nodes if node.op == "call_function"}
    assert any("tiebreak" in t for t in targets), targets
    assert bits_equal(exported.module()(x), model(x))


# ---------------------------------------------------------------------------
# Checkpoints of the C++ trainer


def tiebreak_binary():
    binary = os.environ.get("TIEBREAK_BINARY")
    if binary and os.path.exists(binary):
        return binary
    return shutil.which("tiebreak")


def test_load_checkpoint_of_a_cpp_run_into_the_matching_python_model(tmp_path):
    binary = tiebreak_binary()
    if binary is None:
        pytest.skip("no tiebreak binary (ctest sets TIEBREAK_BINARY)")
    config = {
        "data": {"dataset": "synthetic", "batch_size": 32, "test_batch_size": 64,
                 "synthetic": {"train_size": 64, "test_size": 32, "classes": 4, "shape": [1, 28, 28]}},
        "model": {"name": "lenet5"},
        "nonsmooth": {"beta": 1000, "formulation": "mixture", "relu_alpha": 0.5},
        "train": {"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.05}},
        "exp": {"device": "cpu", "deterministic": True, "threads": 1, "output_dir": str(tmp_path), "name": "run"},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = subprocess.run([binary, "train", str(tmp_path / "config.json")], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    checkpoints = list(tmp_path.rglob("checkpoint.pt"))
    assert len(checkpoints) == 1, list(tmp_path.rglob("*"))
    model = tiebreak.models.lenet5(num_classes=4, beta=1000.0, formulation="mixture", relu_alpha=0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    meta = tiebreak.load_checkpoint(model, checkpoints[0])
    assert isinstance(meta, dict) and meta
    state = tiebreak.checkpoint.read_checkpoint_state(checkpoints[0])
    assert set(state) == set(model.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name]), name
        assert not torch.equal(tensor, before[name]), name  # really loaded
    # The wrong model is a one-line error naming the file.
    with pytest.raises(ValueError, match="checkpoint.pt: the checkpoint does not match the model by name"):
        tiebreak.load_checkpoint(tiebreak.models.lenet5(num_classes=4, batch_norm=True), checkpoints[0])
    with pytest.raises(ValueError, match="has shape"):
        tiebreak.load_checkpoint(tiebreak.models.lenet5(num_classes=5), checkpoints[0])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="garbage.pt: not a readable tiebreak checkpoint"):
        tiebreak.load_checkpoint(model, garbage)
