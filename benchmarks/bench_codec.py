"""Model-based lossless compression against classical codecs on the same images.

    python benchmarks/bench_codec.py [--minutes 3] [--per-image 100] [--out benchmarks/results/codec.json]

For the bundled test digits (binary and 8-bit) and the photo patches (32×32 crops of the
photos that scikit-image and scikit-learn ship; test photos never seen in training), train a
PixelCNN for --minutes on the training split (or reuse runs/bench-codec-*), then report in
bits per sub-pixel:
  * model NLL (the ideal code length) and the real file of the whole test set (`pixelar.codec`);
  * the model codec per image: payload alone, and a whole file per image (61 bytes of framing);
  * PNG, WebP lossless, JPEG-XL lossless and JPEG 2000 lossless per image, and on the whole set
    tiled into one image;
and encode / decode speed in images/s.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import pixelar
from pixelar.codec import decode, encode, read_header
from pixelar.data import get_dataset
from pixelar.evaluation import evaluate
from pixelar.training import TrainConfig, train

DATASETS = {"digits-binary": "digits-binary", "digits-8bit": "digits", "photos32": "photos32"}
# The model trained per dataset: a PixelCNN for the digits, a PixelCNN++ (whose logistic mixture
# learns smooth 8-bit colour distributions far faster than a 256-way softmax) for the photos.
MODELS = {
    "digits-binary": ("pixelcnn", {"num_layers": 6, "hidden_channels": 32}),
    "digits-8bit": ("pixelcnn", {"num_layers": 6, "hidden_channels": 32}),
    "photos32": ("pixelcnn++", {"num_layers": 2, "hidden_channels": 32, "num_components": 5, "dropout": 0.0}),
}


def png(arr: np.ndarray, binary: bool) -> int:
    img = Image.fromarray(arr.squeeze(-1) if arr.shape[-1] == 1 else arr)
    if binary:
        img = img.convert("1")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return len(buf.getvalue())


def webp(arr: np.ndarray, binary: bool) -> int:
    img = Image.fromarray(arr.squeeze(-1) if arr.shape[-1] == 1 else arr)
    buf = io.BytesIO()
    img.save(buf, format="WEBP", lossless=True, quality=100, method=6)
    return len(buf.getvalue())


def jxl(arr: np.ndarray, binary: bool) -> int:
    import imagecodecs

    a = arr.squeeze(-1) if arr.shape[-1] == 1 else arr
    data = imagecodecs.jpegxl_encode(a, lossless=True, effort=9)
    assert np.array_equal(imagecodecs.jpegxl_decode(data).reshape(a.shape), a)
    return len(data)


def j2k(arr: np.ndarray, binary: bool) -> int:
    import imagecodecs

    a = arr.squeeze(-1) if arr.shape[-1] == 1 else arr
    data = imagecodecs.jpeg2k_encode(a, level=0, reversible=True)
    assert np.array_equal(imagecodecs.jpeg2k_decode(data).reshape(a.shape), a)
    return len(data)


CODECS = {"PNG": png, "WebP lossless": webp, "JPEG-XL lossless": jxl, "JPEG 2000 lossless": j2k}


def tile_all(arr: np.ndarray) -> np.ndarray:
    n, h, w, c = arr.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        grid[r * h : (r + 1) * h, q * w : (q + 1) * w] = arr[i]
    return grid


def get_model(name: str, data: str, minutes: float, runs: Path) -> pixelar.models.AutoregressiveModel:
    run = runs / f"bench-codec-{name}"
    if not (run / "model").exists():
        cfg = TrainConfig(
            model="pixelcnn",
            model_args={"num_layers": 6, "hidden_channels": 32},
            data=data,
            batch_size=32,
            steps=10**9,
            max_minutes=minutes,
            eval_every=0,
            num_samples=16,
        )
        train(cfg, run, progress=False)
    return pixelar.load(run)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--per-image", type=int, default=100, help="test images coded one file each")
    p.add_argument("--runs", default="runs")
    p.add_argument("--out", default="benchmarks/results/codec.json")
    a = p.parse_args()
    results = []
    for label, data in DATASETS.items():
        test = get_dataset(data, "test")
        model = get_model(label, data, a.minutes, Path(a.runs))
        x = test.images.long()
        dims = x[0].numel()
        binary = test.num_levels == 2
        row: dict = {"data": label, "images": len(x), "dims_per_image": dims}
        row["model_nll_bpd"] = evaluate(model, test).bits_per_dim
        t = time.perf_counter()
        blob = encode(model, x)
        row["encode_img_s"] = len(x) / (time.perf_counter() - t)
        t = time.perf_counter()
        assert torch.equal(decode(model, blob), x), "round trip failed"
        row["decode_img_s"] = len(x) / (time.perf_counter() - t)
        row["model_codec_whole_set_bpd"] = 8 * len(blob) / (len(x) * dims)
        sub = x[: a.per_image]
        files = [encode(model, img[None]) for img in sub]
        row["model_codec_per_image_payload_bpd"] = np.mean([8 * len(read_header(f)[1]) for f in files]) / dims
        row["model_codec_per_image_file_bpd"] = np.mean([8 * len(f) for f in files]) / dims
        row["model_nll_bpd_per_image_subset"] = evaluate(model, test.subset(a.per_image)).bits_per_dim
        arr = (x * (255 // (test.num_levels - 1))).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for name, codec in CODECS.items():
            try:
                row[f"{name} per image"] = np.mean([8 * codec(im, binary) for im in arr]) / dims
                row[f"{name} whole set"] = 8 * codec(tile_all(arr), binary) / (len(arr) * dims)
            except Exception as e:
                row[f"{name} per image"] = row[f"{name} whole set"] = None
                print(f"{name}: {e.__class__.__name__}: {e}")
        results.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(f"{'bits/dim':34s}" + "".join(f"{r['data']:>16s}" for r in results))

    def line(title: str, key: str) -> None:
        cells = "".join(f"{r[key]:16.4f}" if r.get(key) is not None else f"{'n/a':>16s}" for r in results)
        print(f"{title:34s}{cells}")

    line("model NLL", "model_nll_bpd")
    line("model codec, whole set", "model_codec_whole_set_bpd")
    line("model codec, per image payload", "model_codec_per_image_payload_bpd")
    line("model codec, per image file", "model_codec_per_image_file_bpd")
    for name in CODECS:
        line(f"{name}, per image", f"{name} per image")
        line(f"{name}, whole set", f"{name} whole set")
    line("encode images/s", "encode_img_s")
    line("decode images/s", "decode_img_s")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"minutes": a.minutes, "torch": torch.__version__, "rows": results}, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
