"""Pictures people look at: sample grids and loss curves (PNG)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from pixelar.checkpoint import atomic_write
from pixelar.errors import PixelarError
from pixelar.imageio import to_8bit


def to_uint8(images: Tensor, num_levels: int) -> np.ndarray:
    """Integer images [N, C, H, W] in [0, K) -> uint8 [N, H, W, C] for display: the 8-bit
    intensities of :func:`pixelar.imageio.to_8bit` (K > 256 is scaled, for display only)."""
    if num_levels <= 256:
        return to_8bit(images, num_levels)
    x = images.detach().cpu().double().numpy() * (255.0 / (num_levels - 1))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def tile(arr: np.ndarray, nrow: int | None = None, scale: int | None = None, pad: int = 1) -> Image.Image:
    """Tile uint8 images [N, H, W, C] into one picture, ``nrow`` per row, upscaled ``scale``×."""
    n, h, w, c = arr.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    if scale is None:
        scale = max(1, 96 // max(h, w))
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), 128, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = arr[i]
    img = Image.fromarray(grid[:, :, 0] if c == 1 else grid)
    return img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)


def make_grid(images: Tensor, num_levels: int, nrow: int | None = None, scale: int | None = None) -> Image.Image:
    """Tile integer images [N, C, H, W] in [0, K) into one picture (nearest-neighbour upscaled)."""
    return tile(to_uint8(images, num_levels), nrow, scale)


def save_image(img: Image.Image, path: str | Path) -> Path:
    """Write a PIL image as PNG atomically."""
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


def save_grid(images: Tensor, num_levels: int, path: str | Path, nrow: int | None = None) -> Path:
    """Write a sample grid PNG atomically."""
    return save_image(make_grid(images, num_levels, nrow), path)


def loss_series(metrics_path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """The series of a metrics.jsonl file, by legend label, in this order: the training loss,
    the test NLL evaluated during training (on ``eval_images`` test images) and the final
    evaluation on the whole test split (records with ``"final": true``). Empty series are left
    out; lines that do not parse (cut short by a crash) are skipped."""
    train: list[tuple[int, float]] = []
    during: list[tuple[int, float]] = []
    final: list[tuple[int, float]] = []
    counts: dict[str, set] = {"during": set(), "final": set()}
    for line in Path(metrics_path).read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
            step = int(rec["step"])
        except (json.JSONDecodeError, TypeError, KeyError, ValueError):
            continue
        if "train_loss" in rec:
            train.append((step, rec["train_loss"]))
        if "test_loss" in rec:
            kind = "final" if rec.get("final") else "during"
            (final if kind == "final" else during).append((step, rec["test_loss"]))
            counts[kind].add(rec.get("test_images"))
    series = {
        "train (batch mean)": train,
        f"test during training{_images_label(counts['during'])}": during,
        f"final test, whole split{_images_label(counts['final'])}": final,
    }
    return {label: points for label, points in series.items() if points}


def _images_label(counts: set) -> str:
    """' (500 images)' when every evaluation of a series used the same known number of images."""
    (only,) = counts if len(counts) == 1 else (None,)
    return f" ({only} images)" if isinstance(only, int) else ""


def save_loss_curve(metrics_path: str | Path, path: str | Path, unit: str) -> Path:
    """Plot :func:`loss_series` of a metrics.jsonl file: the training loss as a line, the test
    evaluations during training as dots and the final whole-split evaluation as a star."""
    try:
        import matplotlib
    except ImportError:
        raise PixelarError("loss curves need matplotlib: pip install 'pixelar[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = loss_series(metrics_path)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, points in series.items():
        if label.startswith("train"):
            ax.plot(*zip(*points), label=label, lw=1)
        elif label.startswith("test"):
            ax.plot(*zip(*points), "o-", label=label, lw=1.5, ms=4)
        else:
            ax.plot(*zip(*points), "*", label=label, ms=12, color="C3")
            step, value = points[-1]
            ax.annotate(f"{value:.4g}", (step, value), textcoords="offset points", xytext=(-8, 8), ha="right")
    skip = {label: len(points) // 10 if label.startswith("train") else 0 for label, points in series.items()}
    values = [v for label, points in series.items() for _, v in points[skip[label] :]]
    if values:  # keep the first steps' huge losses from flattening the rest of the curve
        lo, hi = min(values), sorted(values)[int(0.95 * (len(values) - 1))]
        ax.set_ylim(lo - 0.1 * (hi - lo + 1e-9), hi + 0.5 * (hi - lo + 1e-9))
    ax.set_xlabel("step")
    ax.set_ylabel(f"NLL ({unit})")
    ax.grid(alpha=0.3)
    if series:
        ax.legend()
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def completion_grid(images: Tensor, known: Tensor, completions: Tensor, num_levels: int) -> Image.Image:
    """One row per image: the occluded input (unknown part grey), the completions, the original."""
    N, n = completions.shape[:2]
    originals = to_uint8(images, num_levels)
    occluded = originals.copy()
    mask = known.expand(images.shape).permute(0, 2, 3, 1).cpu().numpy()
    occluded[~mask] = 128
    comps = to_uint8(completions.reshape(N * n, *completions.shape[2:]), num_levels).reshape(N, n, *originals.shape[1:])
    panels = np.concatenate([occluded[:, None], comps, originals[:, None]], axis=1)
    return tile(panels.reshape(-1, *panels.shape[2:]), nrow=n + 2)


def save_completion_grid(images: Tensor, known: Tensor, completions: Tensor, num_levels: int, path: str | Path) -> Path:
    return save_image(completion_grid(images, known, completions, num_levels), path)
