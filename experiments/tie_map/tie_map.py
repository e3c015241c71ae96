#!/usr/bin/env python3
"""One MNIST image through Conv(1->1, 5x5) -> ReLU -> MaxPool(2x2): the activation map with tied windows marked.

Usage: tie_map.py MNIST_DIR OUT_DIR [--index 0] [--seed 0]
MNIST_DIR holds train-images-idx3-ubyte.gz.
"""
import argparse
import gzip
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def read_image(path, index):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = np.frombuffer(data[:16], dtype=">i4")
    if magic != 2051 or not 0 <= index < n:
        raise SystemExit(f"{path}: expected an IDX image file with more than {index} images")
    pixels = np.frombuffer(data, dtype=np.uint8, count=rows * cols, offset=16 + index * rows * cols)
    return torch.tensor(pixels.reshape(1, 1, rows, cols), dtype=torch.float64) / 255.0


def tie_windows(activation):
    """Number of positions attaining each 2x2 window's maximum."""
    windows = torch.nn.functional.unfold(activation, kernel_size=2, stride=2)  # [1, 4, L]
    return (windows == windows.max(dim=1, keepdim=True).values).sum(dim=1).view(
        activation.shape[-2] // 2, activation.shape[-1] // 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    image = read_image(os.path.join(args.mnist_dir, "train-images-idx3-ubyte.gz"), args.index)
    torch.manual_seed(args.seed)
    conv = torch.nn.Conv2d(1, 1, 5).double()
    dtypes = {"fp16": torch.float16, "fp32": torch.float32, "fp64": torch.float64}
    maps, ties = {}, {}
    for name, dtype in dtypes.items():
        # fp16 convolution on the CPU may be missing: compute in the dtype by rounding after each op.
        x = image.to(dtype)
        w, b = conv.weight.detach().to(dtype), conv.bias.detach().to(dtype)
        try:
            y = torch.nn.functional.conv2d(x, w, b)
        except RuntimeError:
            y = torch.nn.functional.conv2d(x.float(), w.float(), b.float()).to(dtype)
        y = torch.relu(y)
        maps[name] = y.double()
        ties[name] = tie_windows(y.double())
    low_only = (ties["fp16"] >= 2) & (ties["fp64"] < 2)
    summary = {name: {"tied_windows": int((t >= 2).sum()), "windows": t.numel()} for name, t in ties.items()}
    summary["fp16_ties_created_by_rounding"] = int(low_only.sum())
    summary["fp16_ties_broken_by_rounding"] = int(((ties["fp16"] < 2) & (ties["fp64"] >= 2)).sum())
    with open(os.path.join(args.out_dir, "tie_map.json"), "w") as f:
        json.dump(summary, f, indent=2)

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for ax, name in zip(axes, dtypes):
        a = maps[name][0, 0].numpy()
        ax.imshow(a, cmap="gray")
        t = ties[name]
        for i in range(t.shape[0]):
            for j in range(t.shape[1]):
                if t[i, j] >= 2:
                    zero = a[2 * i:2 * i + 2, 2 * j:2 * j + 2].max() == 0
                    created = name == "fp16" and bool(low_only[i, j])
                    color = "tab:orange" if created else ("tab:blue" if zero else "tab:red")
                    ax.add_patch(patches.Rectangle((2 * j - 0.5, 2 * i - 0.5), 2, 2, fill=False, lw=1.2,
                                                   edgecolor=color))
        ax.set_title(f"{name}: {summary[name]['tied_windows']} tied windows")
        ax.axis("off")
    fig.suptitle("Conv(1→1, 5×5) → ReLU, 2×2 windows with t ≥ 2 maxima: blue all-zero, red positive,"
                 " orange tied only in fp16")
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(args.out_dir, f"tie_map.{ext}"), dpi=150)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
