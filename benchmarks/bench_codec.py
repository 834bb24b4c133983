"""Model-based lossless compression against classical codecs on the same images.

    python benchmarks/bench_codec.py [--minutes 2] [--per-image 0] [--portable-images 50]
                                     [--out benchmarks/results/codec.json]

For the bundled test digits (binary and 8-bit; the demo-size PixelCNN of `make demo`) and the
photo patches (32×32 crops of the photos that scikit-image and scikit-learn ship; test photos
never seen in training), train the model MODELS names for the dataset for --minutes on the
training split (cached in runs/ by its whole configuration, see benchmarks/harness.py), then
report, in bits per sub-pixel, on the same test images for every row (all of them; the first
N with --per-image N):
  * model NLL (the ideal code length) and the real file of the whole set (`pixelar.codec`);
  * the model codec per image: a whole file per image (header + payload), its header bytes and
    its payload, and the same in portable mode (integer network) on the first
    --portable-images images (with the model's NLL of those images);
  * PNG, WebP lossless, JPEG-XL lossless (effort 10, its strongest) and JPEG 2000 lossless per
    image, and on the whole set tiled into one image;
and the speed of coding one image per file, in images/s and megapixels/s, for the model codec
(float and portable) and JPEG XL on the same images, and of one 256×256 image (test images
tiled). --quick: a smoke test.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image

import harness
from pixelar.codec import decode, encode, image_nll_bits, read_header
from pixelar.evaluation import evaluate

DATASETS = {"digits-binary": "digits-binary", "digits-8bit": "digits", "photos32": "photos32"}
# The model trained per dataset: a PixelCNN for the digits, a PixelCNN++ (whose logistic mixture
# learns smooth 8-bit colour distributions far faster than a 256-way softmax) for the photos.
MODELS = {
    "digits-binary": ("pixelcnn", {"num_layers": 6, "hidden_channels": 32}),
    "digits-8bit": ("pixelcnn", {"num_layers": 6, "hidden_channels": 32}),
    "photos32": ("pixelcnn++", {"num_layers": 2, "hidden_channels": 32, "num_components": 5, "dropout": 0.0}),
}
QUICK_MODELS = {
    "digits-binary": ("pixelcnn", {"num_layers": 1, "hidden_channels": 8}),
    "digits-8bit": ("pixelcnn", {"num_layers": 1, "hidden_channels": 8}),
    "photos32": ("pixelcnn++", {"num_layers": 1, "hidden_channels": 8, "num_components": 2, "dropout": 0.0}),
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
    data = imagecodecs.jpegxl_encode(a, lossless=True, effort=JXL_EFFORT)
    assert np.array_equal(imagecodecs.jpegxl_decode(data).reshape(a.shape), a)
    return len(data)


JXL_EFFORT = 10  # libjxl's strongest


def jxl_speed(arrs: list[np.ndarray]) -> tuple[float, float]:
    """JPEG XL lossless (effort 10) encode and decode, seconds for all the images one by one."""
    import imagecodecs

    with harness.Timer() as t:
        blobs = [imagecodecs.jpegxl_encode(a, lossless=True, effort=JXL_EFFORT) for a in arrs]
    with harness.Timer() as u:
        for blob in blobs:
            imagecodecs.jpegxl_decode(blob)
    return t.seconds, u.seconds


def per_image_files(model, x: torch.Tensor, portable: bool) -> dict:
    """Code every image into its own file; sizes (bits/dim, header bytes) and speeds."""
    dims = x[0].numel()
    with harness.Timer() as t:
        files = [encode(model, img[None], portable=portable) for img in x]
    with harness.Timer() as u:
        restored = [decode(model, f) for f in files]
    assert all(torch.equal(r[0], img) for r, img in zip(restored, x)), "per-image round trip failed"
    payloads = [len(read_header(f)[1]) for f in files]
    pixels = len(x) * x.shape[2] * x.shape[3]
    return {
        "file_bpd": 8 * float(np.mean([len(f) for f in files])) / dims,
        "payload_bpd": 8 * float(np.mean(payloads)) / dims,
        "header_bytes": float(np.mean([len(f) - q for f, q in zip(files, payloads)])),
        "payload_bytes": float(np.mean(payloads)),
        "encode_img_s": len(x) / t.seconds,
        "decode_img_s": len(x) / u.seconds,
        "encode_mp_s": pixels / t.seconds / 1e6,
        "decode_mp_s": pixels / u.seconds / 1e6,
    }


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


def big_image(model, x: torch.Tensor) -> dict:
    """One 256×256 image (test images tiled, cropped): the model codec's encode and decode
    seconds and bits/dim, beside JPEG XL's."""
    import imagecodecs

    _, C, h, w = x.shape
    per_side = -(-256 // h)
    reps = x.repeat(per_side * per_side // len(x) + 1, 1, 1, 1)[: per_side * per_side]
    grid = reps.reshape(per_side, per_side, C, h, w).permute(2, 0, 3, 1, 4).reshape(C, per_side * h, per_side * w)
    image = grid[:, :256, :256].contiguous()
    with harness.Timer() as t:
        blob = encode(model, image[None])
    with harness.Timer() as u:
        restored = decode(model, blob)
    assert torch.equal(restored[0], image), "256×256 round trip failed"
    levels = model.num_levels
    plane = (image * (255 // (levels - 1))).to(torch.uint8).permute(1, 2, 0).numpy()
    plane = plane.squeeze(-1) if C == 1 else plane
    enc_s, dec_s = jxl_speed([plane])
    jxl_bytes = len(imagecodecs.jpegxl_encode(plane, lossless=True, effort=JXL_EFFORT))
    dims = image.numel()
    return {
        "model_encode_s": t.seconds,
        "model_decode_s": u.seconds,
        "model_bpd": 8 * len(blob) / dims,
        "jxl_encode_s": enc_s,
        "jxl_decode_s": dec_s,
        "jxl_bpd": 8 * jxl_bytes / dims,
    }


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "codec")
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--per-image", type=int, default=0, help="use only the first N test images in every row (0: all)")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--portable-images", type=int, default=50, help="images coded per file in portable mode")
    a = harness.parse(p, "codec", {"minutes": 0.05, "per_image": 4, "portable_images": 2}, argv)
    a.model_table = {k: list(v) for k, v in (QUICK_MODELS if a.quick else MODELS).items()}  # recorded in the config
    rows = []
    for label in harness.each(a.datasets):
        data = DATASETS[label]
        name, args = a.model_table[label]
        cfg = harness.budget_config(name, args, data, a.minutes, batch_size=32, lr=1e-3)
        trained = harness.train_for_budget(cfg, a, "codec")
        model = trained.model
        test = harness.dataset(data, "test", a.per_image)
        x = test.images.long()
        n, dims = len(x), x[0].numel()
        binary = test.num_levels == 2
        row: dict = {
            "data": label,
            "model": name,
            "args": args,
            "images": n,
            "dims_per_image": dims,
            **trained.row_fields(),
        }
        row["model_nll_bpd"] = evaluate(model, test).bits_per_dim
        with harness.Timer() as t:
            blob = encode(model, x)
        row["encode_img_s"] = n / t.seconds
        with harness.Timer() as t:
            restored = decode(model, blob)
        row["decode_img_s"] = n / t.seconds
        assert torch.equal(restored, x), "round trip failed"
        row["model_codec_whole_set_bpd"] = 8 * len(blob) / (n * dims)
        per = per_image_files(model, x, portable=False)
        row["model_codec_per_image_payload_bpd"] = per["payload_bpd"]
        row["model_codec_per_image_file_bpd"] = per["file_bpd"]
        row["model_codec_framing_bytes"] = per["header_bytes"]
        row["model_codec_per_image_payload_bytes"] = per["payload_bytes"]
        row["model_nll_bytes_per_image"] = image_nll_bits(model, x) / 8 / n
        row["per_image_speed"] = {k: per[k] for k in ("encode_img_s", "decode_img_s", "encode_mp_s", "decode_mp_s")}
        if name == "pixelcnn":
            sub = x[: a.portable_images]
            port = per_image_files(model, sub, portable=True)
            float_sub = per_image_files(model, sub, portable=False)
            row["portable"] = {
                "images": len(sub),
                "model_nll_bpd": image_nll_bits(model, sub) / (len(sub) * dims),
                "float": float_sub,
                "portable": port,
            }
        arr = (x * (255 // (test.num_levels - 1))).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        planes = [im.squeeze(-1) if im.shape[-1] == 1 else im for im in arr]
        enc_s, dec_s = jxl_speed(planes)
        pixels = n * x.shape[2] * x.shape[3]
        row["jxl_per_image_speed"] = {
            "encode_img_s": n / enc_s,
            "decode_img_s": n / dec_s,
            "encode_mp_s": pixels / enc_s / 1e6,
            "decode_mp_s": pixels / dec_s / 1e6,
        }
        row["image_256"] = big_image(model, x)
        for codec_name, codec in CODECS.items():
            try:
                row[f"{codec_name} per image"] = 8 * float(np.mean([codec(im, binary) for im in arr])) / dims
                row[f"{codec_name} whole set"] = 8 * codec(tile_all(arr), binary) / (n * dims)
            except Exception as e:
                row[f"{codec_name} per image"] = row[f"{codec_name} whole set"] = None
                print(f"{codec_name}: {e.__class__.__name__}: {e}")
        rows.append(row)
        harness.emit(row)
    out = harness.write_results(a.out, "codec", rows, ("data",), a)
    harness.show(out, "codec")


if __name__ == "__main__":
    main()
