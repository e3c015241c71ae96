#!/usr/bin/env python3
"""Regenerates configs/paper/*.json from the study's learning-rate search results.

Each experiment of the study gets one config per (batch norm, precision) that the
learning-rate table covers, with the learning rate found for beta = 0 (the native
Jacobian): the rate every beta of a sweep then shares. The shared parts live in
configs/paper/base_*.json (hand-written, reached through "extends").

Usage: scripts/paper_configs.py [--csv ../shared/paper/learning_rates.csv] [--out configs/paper]
"""
import argparse
import csv
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# dataset, model, optimizer -> (config stem, base file, epochs, extra settings)
EXPERIMENTS = {
    ("mnist", "lenet", "sgd"): ("mnist_lenet5_sgd", "base_mnist.json", 100, {}),
    ("mnist", "lenet", "adam"): ("mnist_lenet5_adam", "base_mnist.json", 80, {}),
    ("cifar10", "vgg11", "sgd"): ("cifar10_vgg11_sgd", "base_cifar10.json", 200, {"model": {"name": "vgg11"}}),
    ("cifar10", "resnet18", "sgd"): ("cifar10_resnet18_sgd", "base_cifar10.json", 200,
                                     {"model": {"name": "resnet18"}}),
    ("svhn", "vgg11", "sgd"): ("svhn_vgg11_sgd", "base_svhn.json", 100, {}),
}
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
    parser.add_argument("--csv", default=os.path.join(ROOT, "..", "shared", "paper", "learning_rates.csv"))
    parser.add_argument("--out", default=os.path.join(ROOT, "configs", "paper"))
    args = parser.parse_args()
    if not os.path.exists(args.csv):
        sys.exit(f"{args.csv}: not found (pass --csv)")
    written = []
    with open(args.csv, newline="") as f:
        for row in csv.DictReader(f):
            if float(row["beta"]) != 0.0:
                continue
            key = (row["dataset"], row["model"], row["optimizer"])
            if key not in EXPERIMENTS:
                continue  # e.g. densenet121: the study searched rates for it but ran no sweep
            bits = int(row["bits"])
            if bits not in PRECISIONS:
                sys.exit(f"{args.csv}: unknown bits {bits} in {row}")
            stem, base, epochs, extra = EXPERIMENTS[key]
            bn = row["batch_norm"] == "true"
            precision = PRECISIONS[bits]
            name = f"{stem}_{'bn' if bn else 'nobn'}_{precision}"
            optimizer = dict(ADAM) if row["optimizer"] == "adam" else {}
            optimizer["lr"] = float(row["lr"])
            config = merge({"extends": base, "model": {"batch_norm": bn}}, extra)
            config = merge(config, {"train": {"precision": precision, "optimizer": optimizer, "epochs": epochs},
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
                      indent=2)
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
