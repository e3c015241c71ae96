#!/usr/bin/env python3
"""Regenerates configs/paper/*.json from the study's learning-rate search results.

Each experiment of the study gets one config per (batch norm, precision) that the
learning-rate table covers, with the learning rate found for beta = 0 (the native
Jacobian): the rate every beta of a sweep then shares, as the study's
train_with_best_lr.py did. Runs per configuration are the study's (its result
files): 1 under mixed precision, 3 for SVHN, 5 for CIFAR-10 VGG11 SGD at 32 bits,
2 for ImageNet, 10 for every other. Each config also names the beta grid the
study swept (`sweep.grid`, what `tiebreak sweep CONFIG` runs without --grid).
The shared parts live in configs/paper/base_*.json (hand-written, reached through
"extends").

Usage: scripts/paper_configs.py [--csv reference/study/learning_rates.csv] [--out configs/paper]
"""
import argparse
import csv
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The study's networks as its code built and initialized them.
RESNET18 = {"name": "resnet18", "init": "torchvision_resnet", "stem": "cifar",
            "stem_pool": {"kernel": 2, "stride": 2, "padding": 0}}
DENSENET121 = {"name": "densenet121", "variant": "study", "init": "torchvision_densenet", "stem": "imagenet",
               "stem_pool": {"kernel": 2, "stride": 2, "padding": 0}}
# dataset, model, optimizer -> (config stem, base file, epochs, extra settings)
EXPERIMENTS = {
    ("mnist", "lenet", "sgd"): ("mnist_lenet5_sgd", "base_mnist.json", 100, {}),
    ("mnist", "lenet", "adam"): ("mnist_lenet5_adam", "base_mnist.json", 80, {}),
    ("cifar10", "vgg11", "sgd"): ("cifar10_vgg11_sgd", "base_cifar10.json", 200, {"model": {"name": "vgg11"}}),
    ("cifar10", "vgg11", "adam"): ("cifar10_vgg11_adam", "base_cifar10.json", 200, {"model": {"name": "vgg11"}}),
    ("cifar10", "resnet18", "sgd"): ("cifar10_resnet18_sgd", "base_cifar10.json", 200, {"model": RESNET18}),
    ("cifar10", "densenet121", "sgd"): ("cifar10_densenet121_sgd", "base_cifar10.json", 200,
                                        {"model": DENSENET121}),
    ("svhn", "vgg11", "sgd"): ("svhn_vgg11_sgd", "base_svhn.json", 100, {}),
}


def runs_of(dataset, model, optimizer, bits):
    """How many runs the study trained per configuration (its result files)."""
    if bits == 24:
        return 1
    if dataset == "svhn":
        return 3
    if (dataset, model, optimizer, bits) == ("cifar10", "vgg11", "sgd", 32):
        return 5
    return 10
# The study's "bits": 16 = everything in fp16, 24 = mixed precision with loss scaling, 32 = fp32.
PRECISIONS = {16: "fp16", 24: "amp_fp16", 32: "fp32"}
ADAM = {"name": "adam", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0, "momentum": 0}


def merge(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default=os.path.join(ROOT, "reference", "study", "learning_rates.csv"))
    parser.add_argument("--out", default=os.path.join(ROOT, "configs", "paper"))
    args = parser.parse_args()
    if not os.path.exists(args.csv):
        sys.exit(f"{args.csv}: not found (pass --csv)")
    written = []
    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    # train_with_best_lr.py swept every beta of its best_lr.csv: the betas of the configuration's rows (10^4 for
    # most, up to 10 for DenseNet121).
    betas = {}
    for row in rows:
        key = (row["dataset"], row["model"], row["batch_norm"], row["optimizer"], row["bits"])
        betas.setdefault(key, []).append(float(row["beta"]))
    for row in rows:
        if float(row["beta"]) != 0.0:
            continue
        key = (row["dataset"], row["model"], row["optimizer"])
        if key not in EXPERIMENTS:
            sys.exit(f"{args.csv}: no experiment for {key} in scripts/paper_configs.py")
        bits = int(row["bits"])
        if bits not in PRECISIONS:
            sys.exit(f"{args.csv}: unknown bits {bits} in {row}")
        stem, base, epochs, extra = EXPERIMENTS[key]
        grid = [int(b) if b.is_integer() else b for b in
                sorted(betas[(row["dataset"], row["model"], row["batch_norm"], row["optimizer"], row["bits"])])]
        bn = row["batch_norm"] == "true"
        precision = PRECISIONS[bits]
        name = f"{stem}_{'bn' if bn else 'nobn'}_{precision}"
        optimizer = dict(ADAM) if row["optimizer"] == "adam" else {}
        optimizer["lr"] = float(row["lr"])
        config = merge({"extends": base, "model": {"batch_norm": bn}}, extra)
        runs = runs_of(row["dataset"], row["model"], row["optimizer"], bits)
        config = merge(config, {"train": {"precision": precision, "optimizer": optimizer, "epochs": epochs,
                                          "runs": runs},
                                "sweep": {"grid": {"nonsmooth.beta": grid}},
                                "exp": {"name": name}})
        path = os.path.join(args.out, name + ".json")
        with open(path, "w") as out:
            json.dump(config, out, indent=2)
            out.write("\n")
        written.append(name)
    # ImageNet/ResNet50: not in the search table; the study used the standard recipe (base_imagenet.json).
    for bn in (True, False):
        name = f"imagenet_resnet50_{'bn' if bn else 'nobn'}_amp_fp16"
        with open(os.path.join(args.out, name + ".json"), "w") as out:
            json.dump({"extends": "base_imagenet.json", "model": {"batch_norm": bn}, "exp": {"name": name}}, out,
                      indent=2)  # runs and the beta grid: base_imagenet.json
            out.write("\n")
        written.append(name)
    # The study's ImageNet run as launched data-parallel (torchrun, one process per GPU; docs/distributed.md):
    # data.batch_size 512 is the global batch, split over the ranks; NCCL with a timeout that survives a slow
    # first epoch's cuDNN autotuning but still ends a job whose rank died.
    name = "imagenet_resnet50_amp"
    with open(os.path.join(args.out, name + ".json"), "w") as out:
        json.dump({"extends": "base_imagenet.json", "model": {"batch_norm": True},
                   "exp": {"name": name, "distributed": {"backend": "auto", "timeout_seconds": 1800}}}, out,
                  indent=2)
        out.write("\n")
    written.append(name)
    print(f"wrote {len(written)} configs to {args.out}")


if __name__ == "__main__":
    main()
