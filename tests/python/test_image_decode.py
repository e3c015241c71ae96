"""tiebreak's image decoding against PIL's, the loader behind torchvision's ImageFolder.

For images PIL writes (JPEG in every colour space and coding, PNG in every mode),
torch.ops.tiebreak.decode_image must give exactly np.asarray(Image.open(f).convert("RGB")).
And the case a real ILSVRC-2012 copy holds: a folder of JPEGs with a PNG named .JPEG
trains one epoch on every image with the built CLI.

Run by ctest as `python test_image_decode.py <libtiebreak.so> <tiebreak program>`.
"""
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

LIBRARY = sys.argv.pop(1) if len(sys.argv) > 1 else None
PROGRAM = sys.argv.pop(1) if len(sys.argv) > 1 else None

try:
    from PIL import Image
except ImportError:  # scripts/setup.sh installs it; elsewhere the comparison cannot run
    Image = None


def tiebreak_decode(data: bytes) -> np.ndarray:
    tensor = torch.ops.tiebreak.decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    return tensor.permute(1, 2, 0).numpy()


def pil_decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def encode(image, fmt, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo(height=37, width=53, seed=0):
    """A smooth image with noise: what JPEG is for, and where chroma upsampling matters."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=-1)
    return np.clip(base + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)


@unittest.skipIf(Image is None, "PIL is not installed (scripts/setup.sh installs pillow)")
class DecodeLikePil(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if LIBRARY is None:
            raise unittest.SkipTest("pass the path of libtiebreak.so")
        torch.ops.load_library(LIBRARY)

    def assert_like_pil(self, data, what):
        ours, theirs = tiebreak_decode(data), pil_decode(data)
        self.assertEqual(ours.shape, theirs.shape, what)
        differing = int((ours != theirs).any(axis=-1).sum())
        self.assertEqual(differing, 0, f"{what}: {differing} pixels differ from PIL's decode")

    def test_jpegs_of_every_colour_space_and_coding(self):
        rgb = Image.fromarray(photo())
        cases = {
            "baseline 4:2:0": encode(rgb, "JPEG", quality=90),
            "baseline 4:4:4": encode(rgb, "JPEG", quality=95, subsampling=0),
            "baseline 4:2:2": encode(rgb, "JPEG", quality=75, subsampling=1),
            "progressive": encode(rgb, "JPEG", quality=85, progressive=True),
            "optimized huffman": encode(rgb, "JPEG", quality=85, optimize=True),
            "grayscale": encode(rgb.convert("L"), "JPEG", quality=90),
            "CMYK (Adobe)": encode(rgb.convert("CMYK"), "JPEG", quality=90),
            "odd size 1x1": encode(Image.fromarray(photo(1, 1)), "JPEG"),
        }
        for what, data in cases.items():
            with self.subTest(what):
                self.assert_like_pil(data, what)

    def test_pngs_of_every_mode(self):
        rgb = Image.fromarray(photo(seed=1))
        rgba = rgb.copy()
        rgba.putalpha(Image.fromarray((photo(seed=2)[..., 0] // 2).astype(np.uint8)))
        palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=37)
        transparent = palette.copy()
        transparent.info["transparency"] = 3
        gray16 = Image.fromarray((photo(seed=3)[..., 0].astype(np.uint16) * 7))  # values beyond 255 too
        cases = {
            "RGB": encode(rgb, "PNG"),
            "RGBA": encode(rgba, "PNG"),
            "L": encode(rgb.convert("L"), "PNG"),
            "LA": encode(rgba.convert("LA"), "PNG"),
            "P": encode(palette, "PNG"),
            "P with transparency": encode(transparent, "PNG"),
            "1-bit": encode(rgb.convert("1"), "PNG"),
            "I;16": encode(gray16, "PNG"),
        }
        for what, data in cases.items():
            with self.subTest(what):
                self.assert_like_pil(data, what)


@unittest.skipIf(Image is None, "PIL is not installed (scripts/setup.sh installs pillow)")
class ImageNetFolderWithAPngNamedJpeg(unittest.TestCase):
    def test_trains_one_epoch_on_every_image_and_the_png_decodes_as_pil_does(self):
        if LIBRARY is None or PROGRAM is None:
            raise unittest.SkipTest("pass libtiebreak.so and the tiebreak program")
        torch.ops.load_library(LIBRARY)
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "imagenet")
            wnids = ["n02105855", "n02106030"]
            train_images = 0
            for c, wnid in enumerate(wnids):
                for split, count in (("train", 4), ("val", 2)):
                    folder = os.path.join(root, split, wnid)
                    os.makedirs(folder)
                    for i in range(count):
                        image = Image.fromarray(photo(40 + 3 * i, 50 - 2 * i, seed=10 * c + i))
                        with open(os.path.join(folder, f"{wnid}_{i}.JPEG"), "wb") as f:
                            f.write(encode(image, "JPEG", quality=90))
                        train_images += split == "train"
            # ILSVRC-2012's n02105855_2933.JPEG is a PNG.
            png = encode(Image.fromarray(photo(45, 60, seed=99)), "PNG")
            with open(os.path.join(root, "train", wnids[0], "n02105855_2933.JPEG"), "wb") as f:
                f.write(png)
            train_images += 1
            np.testing.assert_array_equal(tiebreak_decode(png), pil_decode(png))

            config = os.path.join(tmp, "imagenet.json")
            with open(config, "w") as f:
                json.dump({"data": {"dataset": "imagenet", "root": tmp, "crop_size": 32, "resize_size": 36,
                                    "batch_size": 3, "test_batch_size": 4, "num_workers": 2},
                           "model": {"name": "lenet5"},
                           "train": {"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.01}},
                           "exp": {"device": "cpu", "threads": 1}}, f)
            out = os.path.join(tmp, "out")
            result = subprocess.run([PROGRAM, "train", config, "--no-progress", "--out", out],
                                    capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(os.path.join(out, "run-0", "train.log")) as f:
                log = f.read()
            self.assertIn(f"imagenet ({train_images} train / 4 test examples per epoch)", log)
            with open(os.path.join(out, "run-0", "run.json")) as f:
                self.assertEqual(json.load(f)["status"], "finished")


if __name__ == "__main__":
    unittest.main()
