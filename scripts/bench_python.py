#!/usr/bin/env python3
"""Python/PyTorch baseline for tiebreak's benchmarks (issue 6).

Does the same work as the C++ benchmark programs, the way a PyTorch user would:
the study's β-Jacobian as β·MinNormPool(x) + (1−β)·MaxPool2d(x), with
MinNormPool a torch.autograd.Function (a max_pool2d pass forward; a full-size
tie mask, a sum pool counting the ties and a scatter of g/t backward) and
MaxPool2d the nn module; the same LeNet5/VGG11; the same in-memory data.

    ops    MaxPool2d forward+backward per shape/dtype (names as tiebreak_bench_ops)
    train  images/s of full training steps (names as tiebreak_bench_train)

Results are written as Google Benchmark JSON (--out), so scripts/bench_report.py
reads them beside the C++ programs' output. With --library PATH/libtiebreak.so
the ops run also times torch.ops.tiebreak.max_pool2d called from Python.

Run with the project's venv:  source scripts/env.sh; $(tiebreak_python) scripts/bench_python.py ops --out py_ops.json
"""

import argparse
import datetime
import gzip
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("TIEBREAK_DATA") or REPO.parent / "shared" / "data")


# ---------------------------------------------------------------------------
# The study's two-pool formulation
# ---------------------------------------------------------------------------


class MinNormPool(torch.autograd.Function):
    """MaxPool forward; backward sends g/t to each of the t tied maxima of a window."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        y = F.max_pool2d(x, kernel_size, stride, padding)
        ctx.save_for_backward(x, y)
        ctx.geometry = (kernel_size, stride, padding)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        k, s, p = ctx.geometry
        h, w = x.shape[-2:]
        if s == k and p == 0 and h % k == 0 and w % k == 0:
            # Tiled windows: the maximum upsampled to full size marks every tied position.
            mask = x == F.interpolate(y, size=(h, w), mode="nearest")
            ties = F.avg_pool2d(mask.to(x.dtype), k, k, divisor_override=1)
            grad = F.interpolate(g / ties, size=(h, w), mode="nearest") * mask
        else:
            # Overlapping or padded windows: unfold, mask per column, fold adds the overlaps.
            n, c = x.shape[:2]
            xp = F.pad(x, (p, p, p, p), value=-math.inf) if p else x
            columns = F.unfold(xp, k, stride=s).view(n, c, k * k, -1)
            mask = columns == y.reshape(n, c, 1, -1)
            ties = mask.sum(2, keepdim=True, dtype=x.dtype)
            contributions = (g.reshape(n, c, 1, -1) / ties * mask).view(n, c * k * k, -1)
            grad = F.fold(contributions, (h + 2 * p, w + 2 * p), k, stride=s)
            if p:
                grad = grad[..., p : p + h, p : p + w]
        return grad, None, None, None


class BetaMaxPool2d(nn.Module):
    """The study's pooling layer: β·MinNormPool(x) + (1−β)·MaxPool2d(x)."""

    def __init__(self, kernel_size, stride, padding=0, beta=0.0):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.beta = kernel_size, stride, padding, beta
        self.native = nn.MaxPool2d(kernel_size, stride, padding)

    def forward(self, x):
        return self.beta * MinNormPool.apply(x, self.kernel_size, self.stride, self.padding) + (
            1 - self.beta
        ) * self.native(x)


class TiebreakMaxPool2d(nn.Module):
    """torch.ops.tiebreak.max_pool2d (libtiebreak.so) as a module."""

    def __init__(self, kernel_size, stride, padding=0, beta=0.0, formulation="pure"):
        super().__init__()
        self.args = ([kernel_size] * 2, [stride] * 2, [padding] * 2, [1, 1], False, float(beta), formulation)

    def forward(self, x):
        return torch.ops.tiebreak.max_pool2d(x, *self.args)


# ---------------------------------------------------------------------------
# Timing and Google Benchmark JSON
# ---------------------------------------------------------------------------


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(fn, device, min_time, repetitions, max_iterations=None):
    """Google Benchmark's procedure: grow the iteration count until a batch of
    iterations takes min_time, then time `repetitions` batches of that many."""
    fn()
    synchronize(device)
    iterations = 1
    while True:
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or (max_iterations and iterations >= max_iterations):
            break
        # As Google Benchmark: aim 40% past min_time, at most 10× per round.
        multiplier = min(10.0, max(1.4 * min_time / max(elapsed, 1e-9), 1.0))
        iterations = max(iterations + 1, int(iterations * multiplier))
        if max_iterations:
            iterations = min(iterations, max_iterations)
    runs = [(iterations, elapsed)]
    for _ in range(repetitions - 1):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        synchronize(device)
        runs.append((iterations, time.perf_counter() - start))
    return runs


class Results:
    def __init__(self, args):
        self.entries = []
        self.args = args

    def add(self, name, runs, items_per_iteration, unit="ms"):
        scale = {"ms": 1e3, "us": 1e6, "s": 1.0}[unit]
        per_iteration = []
        for repetition, (iterations, seconds) in enumerate(runs):
            t = seconds / iterations
            per_iteration.append(t)
            self.entries.append(
                {
                    "name": name,
                    "run_name": name,
                    "run_type": "iteration",
                    "repetitions": len(runs),
                    "repetition_index": repetition,
                    "iterations": iterations,
                    "real_time": t * scale,
                    "cpu_time": t * scale,
                    "time_unit": unit,
                    "items_per_second": items_per_iteration / t,
                }
            )
        if len(runs) > 1:
            t = statistics.median(per_iteration)
            self.entries.append(
                {
                    "name": name + "_median",
                    "run_name": name,
                    "run_type": "aggregate",
                    "aggregate_name": "median",
                    "repetitions": len(runs),
                    "iterations": len(runs),
                    "real_time": t * scale,
                    "cpu_time": t * scale,
                    "time_unit": unit,
                    "items_per_second": items_per_iteration / t,
                }
            )
        print(f"{name:<70} {per_iteration[0] * scale:12.3f} {unit}  {items_per_iteration / per_iteration[0]:12.4g} items/s",
              flush=True)

    def write(self, path, extra_context):
        context = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host_name": platform.node(),
            "executable": f"{sys.executable} {' '.join(sys.argv)}",
            "num_cpus": os.cpu_count(),
            "python_version": platform.python_version(),
            "torch_version": torch.__version__,
            "intra_op_threads": str(torch.get_num_threads()),
            "cuda_available": "yes" if torch.cuda.is_available() else "no",
        }
        context.update(extra_context)
        with open(path, "w") as f:
            json.dump({"context": context, "benchmarks": self.entries}, f, indent=1)


def dtype_name(dtype):
    return {torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32", torch.float64: "f64"}[dtype]


def devices_from(args):
    devices = []
    for name in args.device.split(","):
        if name == "cuda" and not torch.cuda.is_available():
            print("note: CUDA benchmarks skipped: no CUDA device is available", file=sys.stderr)
            continue
        if name not in ("cpu", "cuda"):
            sys.exit(f"error: --device: expected cpu, cuda or cpu,cuda, got '{name}'")
        devices.append(torch.device(name))
    return devices


def name_matches(args, name):
    return args.filter is None or args.filter in name


# ---------------------------------------------------------------------------
# ops
# ---------------------------------------------------------------------------

OP_SHAPES = [
    ("vgg1_128x64x32x32_k2s2", (128, 64, 32, 32), 2, 2, 0),
    ("vgg2_128x128x16x16_k2s2", (128, 128, 16, 16), 2, 2, 0),
    ("vgg3_128x256x8x8_k2s2", (128, 256, 8, 8), 2, 2, 0),
    ("vgg4_128x512x4x4_k2s2", (128, 512, 4, 4), 2, 2, 0),
    ("vgg5_128x512x2x2_k2s2", (128, 512, 2, 2), 2, 2, 0),
    ("stem_32x64x112x112_k3s2p1", (32, 64, 112, 112), 3, 2, 1),
]
SMOKE_SHAPES = [("smoke_2x3x8x8_k2s2", (2, 3, 8, 8), 2, 2, 0), ("smoke_2x3x9x9_k3s2p1", (2, 3, 9, 9), 3, 2, 1)]


def op_modules(k, s, p, with_library):
    modules = [("py_native", nn.MaxPool2d(k, s, p)), ("py_twopool_b1000", BetaMaxPool2d(k, s, p, 1000.0))]
    if with_library:
        for formulation in ("pure", "mixture"):
            for beta in (0, 1000):
                modules.append((f"py_tiebreak_{formulation}_b{beta}", TiebreakMaxPool2d(k, s, p, beta, formulation)))
    return modules


def check_same_work(x, k, s, p, beta=1000.0):
    """The Python two-pool layer against torch.ops.tiebreak's mixture formulation (the
    same expression): bit-identical on tiled windows, equal up to summation order otherwise."""
    torch.manual_seed(11)
    upstream = torch.randn_like(F.max_pool2d(x, k, s, p))
    results = []
    for module in (BetaMaxPool2d(k, s, p, beta), TiebreakMaxPool2d(k, s, p, beta, "mixture")):
        leaf = x.detach().clone().requires_grad_(True)
        y = module(leaf)
        y.backward(upstream)
        results.append((y.detach(), leaf.grad))
    (y_py, g_py), (y_tb, g_tb) = results
    tiled = s == k and p == 0 and x.shape[-1] % k == 0 and x.shape[-2] % k == 0
    same_y = torch.equal(y_py, y_tb) or (torch.isnan(y_py) == torch.isnan(y_tb)).all() and torch.equal(
        y_py.nan_to_num(), y_tb.nan_to_num())
    if tiled:
        same_g = torch.equal(g_py.nan_to_num(), g_tb.nan_to_num())
    else:
        # Overlapping windows add β·g/t and (1−β)·g terms of size β·|g| in a different order:
        # a few rounding units of β·|g| apart.
        tolerance = 8 * torch.finfo(x.dtype).eps * beta * upstream.abs().max().item()
        same_g = torch.allclose(g_py.double(), g_tb.double(), rtol=0, atol=tolerance, equal_nan=True)
    return bool(same_y) and bool(same_g)


def run_ops(args, results):
    shapes = SMOKE_SHAPES if args.smoke else OP_SHAPES
    for device in devices_from(args):
        for shape_name, sizes, k, s, p in shapes:
            for dtype in (torch.float16, torch.float32, torch.float64):
                group = f"{device.type}/{dtype_name(dtype)}/{shape_name}/"
                torch.manual_seed(20240)
                x = torch.relu(torch.randn(sizes)).to(device=device, dtype=dtype)
                if args.library is not None and not args.no_check:
                    if not check_same_work(x, k, s, p):
                        sys.exit(f"error: {group}: the Python two-pool layer and torch.ops.tiebreak.max_pool2d "
                                 "(mixture) disagree: the baseline would not do the same work")
                for impl, module in op_modules(k, s, p, args.library is not None):
                    for mode in ("fwdbwd", "fwd"):
                        name = f"{mode}/{group}{impl}"
                        if mode == "fwd" and (dtype != torch.float32 or impl.endswith("_b0")):
                            continue
                        if not name_matches(args, name):
                            continue
                        if mode == "fwd":
                            def step(module=module):
                                with torch.no_grad():
                                    module(x)
                        else:
                            leaf = x.detach().requires_grad_(True)
                            with torch.no_grad():
                                torch.manual_seed(7)
                                upstream = torch.randn_like(module(x))

                            def step(module=module, leaf=leaf, upstream=upstream):
                                module(leaf).backward(upstream)
                                leaf.grad = None

                        results.add(name, measure(step, device, args.min_time, args.repetitions), x.numel())


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------


def make_pool(kind, beta, k=2, s=2):
    if kind == "py_native":
        return nn.MaxPool2d(k, s)
    if kind.startswith("py_twopool"):
        return BetaMaxPool2d(k, s, 0, beta)
    raise ValueError(kind)


class LeNet5(nn.Module):
    """tiebreak::models::LeNet5 without batch norm: conv5-relu-pool ×2, fc 120-84-classes."""

    def __init__(self, pool, beta, in_channels=1, image_size=28, num_classes=10):
        super().__init__()
        side = ((image_size - 4) // 2 - 4) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), nn.ReLU(), make_pool(pool, beta),
            nn.Conv2d(6, 16, 5), nn.ReLU(), make_pool(pool, beta))
        self.classifier = nn.Sequential(
            nn.Linear(16 * side * side, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class VGG11(nn.Module):
    """tiebreak::models::VGG(11) without batch norm: 3×3 convs, five 2×2/2 pools, one linear."""

    def __init__(self, pool, beta, in_channels=3, image_size=32, num_classes=10):
        super().__init__()
        layers, channels = [], in_channels
        for width in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
            if width == "M":
                layers.append(make_pool(pool, beta))
            else:
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
                channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels * (image_size // 32) ** 2, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(data[4 + 4 * ndim :]), dtype=torch.uint8).view(*dims)


def read_cifar(path):
    with gzip.open(path, "rb") as f:
        records = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).view(-1, 1 + 3 * 32 * 32)
    return records[:, 1:].reshape(-1, 3, 32, 32).contiguous(), records[:, 0].long()


class InMemoryData:
    """uint8 images held as one tensor; batches gathered with index_select,
    normalised (and for CIFAR randomly cropped and flipped) a batch at a time."""

    def __init__(self, images, labels, mean, std, crop_padding, device, dtype, batch_size, seed=0):
        self.images, self.labels = images.to(device), labels.to(device)
        c = images.shape[1]
        self.scale = (1.0 / (255.0 * torch.tensor(std))).view(1, c, 1, 1).to(device)
        self.shift = (-torch.tensor(mean) / torch.tensor(std)).view(1, c, 1, 1).to(device)
        self.crop_padding, self.device, self.dtype, self.batch_size = crop_padding, device, dtype, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self):
        return self.images.shape[0] // self.batch_size

    def __iter__(self):
        order = torch.randperm(self.images.shape[0], generator=self.generator).to(self.device)
        for b in range(len(self)):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.images.index_select(0, index)
            if self.crop_padding:
                x = self.crop_flip(x)
            x = (x.float() * self.scale + self.shift).to(self.dtype)
            yield x, self.labels.index_select(0, index)

    def crop_flip(self, x):
        n, _, h, w = x.shape
        p = self.crop_padding
        oy = torch.randint(0, 2 * p + 1, (n,), generator=self.generator).to(self.device)
        ox = torch.randint(0, 2 * p + 1, (n,), generator=self.generator).to(self.device)
        flip = (torch.rand(n, generator=self.generator) < 0.5).to(self.device)
        padded = F.pad(x, (p, p, p, p))
        rows = (oy[:, None] + torch.arange(h, device=self.device))[:, :, None]
        cols = ox[:, None] + torch.arange(w, device=self.device)
        cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, :]
        batch = torch.arange(n, device=self.device)[:, None, None]
        return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def load_task(task, data_dir, device, dtype, batch_size):
    if task == "lenet5_mnist":
        images = read_idx(data_dir / "mnist" / "train-images-idx3-ubyte.gz").unsqueeze(1)
        labels = read_idx(data_dir / "mnist" / "train-labels-idx1-ubyte.gz").long()
        return InMemoryData(images, labels, [0.5], [0.5], 0, device, dtype, batch_size)
    if task == "vgg11_cifar10":
        images, labels = read_cifar(data_dir / "cifar-10" / "data_batch_1.first4000.bin.gz")
        return InMemoryData(images, labels, [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010], 4, device, dtype,
                            batch_size)
    raise ValueError(task)


TRAIN_CASES = [
    # task, precisions (fp16/bf16: the whole model in that dtype, PyTorch's own kernels; amp: fp16 autocast)
    ("lenet5_mnist", ("fp32", "fp16", "bf16")),
    ("vgg11_cifar10", ("fp32", "fp16", "amp", "bf16")),
]
PARAMETER_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "amp": torch.float32}


def train_step_sizes(task, device, smoke):
    """(batch, timed steps per repetition), as tiebreak_bench_train: short on two shared CPU cores."""
    if smoke:
        return 4, 2
    if device.type == "cuda":
        return 128, 50
    return (128, 20) if task == "lenet5_mnist" else (32, 3)


def run_train(args, results):
    for device in devices_from(args):
        for task, precisions in TRAIN_CASES:
            for precision in precisions:
                for impl, beta in (("py_native", 0.0), ("py_twopool_b1000", 1000.0)):
                    name = f"train/{device.type}/{task}/{precision}/{impl}"
                    if not name_matches(args, name):
                        continue
                    default_batch, default_steps = train_step_sizes(task, device, args.smoke)
                    batch_size = args.batch_size or default_batch
                    parameter_dtype = PARAMETER_DTYPES[precision]
                    data = load_task(task, args.data_dir, device, parameter_dtype, batch_size)
                    torch.manual_seed(0)
                    model = (LeNet5 if task.startswith("lenet5") else VGG11)(impl, beta).to(device, parameter_dtype)
                    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
                    scaler = torch.amp.GradScaler(device.type) if precision == "amp" else None
                    batches = iter(())

                    def step():
                        nonlocal batches
                        batch = next(batches, None)
                        if batch is None:
                            batches = iter(data)
                            batch = next(batches)
                        x, y = batch
                        optimizer.zero_grad(set_to_none=True)
                        with torch.autocast(device.type, dtype=torch.float16, enabled=precision == "amp"):
                            loss = F.cross_entropy(model(x), y)
                        if scaler is not None:
                            scaler.scale(loss).backward()
                            scaler.step(optimizer)
                            scaler.update()
                        else:
                            loss.backward()
                            optimizer.step()

                    steps = args.steps or default_steps
                    for _ in range(steps if args.warmup is None else args.warmup):
                        step()
                    synchronize(device)
                    runs = []
                    for _ in range(args.repetitions):
                        start = time.perf_counter()
                        for _ in range(steps):
                            step()
                        synchronize(device)
                        runs.append((steps, time.perf_counter() - start))
                    results.add(name, runs, batch_size)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("level", choices=("ops", "train"))
    parser.add_argument("--out", required=True, help="Google Benchmark-style JSON output file")
    parser.add_argument("--device", default="cpu,cuda", help="cpu, cuda or cpu,cuda (absent CUDA is skipped)")
    parser.add_argument("--filter", help="only benchmarks whose name contains this substring")
    parser.add_argument("--smoke", action="store_true", help="tiny inputs: check that everything runs")
    parser.add_argument("--min-time", type=float, default=0.5, help="ops: seconds per timed batch")
    parser.add_argument("--repetitions", type=int, help="timed batches (default: ops 1, train 3)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--library", help="libtiebreak.so: also time torch.ops.tiebreak.max_pool2d")
    parser.add_argument("--no-check", action="store_true",
                        help="ops: skip checking the Python two-pool layer against tiebreak's mixture first")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the shared data (mnist/, cifar-10/)")
    parser.add_argument("--steps", type=int, help="train: timed steps per repetition (default: as tiebreak_bench_train)")
    parser.add_argument("--warmup", type=int, help="train: untimed steps first (default: one repetition's worth)")
    parser.add_argument("--batch-size", type=int, help="train: default as tiebreak_bench_train")
    args = parser.parse_args()
    if args.repetitions is None:
        args.repetitions = 3 if args.level == "train" else 1
    if args.repetitions < 1:
        sys.exit(f"error: --repetitions: expected >= 1, got {args.repetitions}")
    if args.threads:
        torch.set_num_threads(args.threads)
    context = {"level": args.level, "smoke": "yes" if args.smoke else "no"}
    if args.library:
        if not Path(args.library).is_file():
            sys.exit(f"error: --library: no such file '{args.library}' (build the tiebreak target first)")
        torch.ops.load_library(args.library)
        context["library"] = args.library
    if args.level == "train":
        for relative in ("mnist/train-images-idx3-ubyte.gz", "cifar-10/data_batch_1.first4000.bin.gz"):
            if not (args.data_dir / relative).is_file():
                sys.exit(f"error: --data-dir: expected {relative} under {args.data_dir}")
    results = Results(args)
    (run_ops if args.level == "ops" else run_train)(args, results)
    results.write(args.out, context)


if __name__ == "__main__":
    main()
