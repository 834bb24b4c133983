"""Memory of downsampled ImageNet: the memory-mapped cache against every batch held in memory.

    python benchmarks/bench_imagenet_memory.py [--images 200000] [--batch-images 25000] [--size 32]
        [--steps 1000] [--batch-size 64] [--no-old] [--tmp DIR]

Writes ``--images`` synthetic images in the official npz format (random uint8 rows of 3·S·S,
R plane then G then B; labels 1..1000), ``--batch-images`` a batch (the official batches hold
about 128k, scaled down here), to a temporary directory (``--tmp``), then measures each phase in
its own fresh process, so that every peak is that phase's:

* ``convert``: the first ``load_imagenet``, which writes the cache (two ``.npy`` files);
* ``mmap``: a later ``load_imagenet`` (the cache reused, memory-mapped), then ``--steps``
  training batches of ``--batch-size`` read as the trainer reads them
  (``pixelar.training.StepBatches``: the step's indices in the epoch's seeded order, sorted);
* ``in memory``: the loader as it was before the cache (every batch read with
  ``read_npz_batch``, then all of them concatenated: a copy of it is kept here), then the same
  batches. ``--no-old`` skips it.

Memory, in MB, from /proc/self/status (Linux): VmHWM, the kernel's peak resident set (reset
after the imports, where the kernel allows it, so it is the phase's own); the peaks of VmRSS,
RssAnon (anonymous memory, which only the process can give back) and RssFile (pages of mapped
files: page cache the kernel drops and reads again under pressure), sampled every 2 ms by a
thread; and RssAnon's peak above its value after the imports (torch, numpy, pixelar). The rows
also give the dataset's size in memory and on disk. The batches' indices (the epoch's
permutation, drawn once an epoch) and the gathers are timed apart, in ms a batch.
Writes benchmarks/results/imagenet_memory.json (runs/bench-quick/ with --quick) and prints
the table. The files are read from the page cache (just written): cold reads from a disk are
slower, and use no more memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness
from bench_versions import WORKER, run_worker

MODES = ("convert", "mmap", "in memory")
FIELDS = ("VmHWM", "VmRSS", "RssAnon", "RssFile")
PATTERN = "train_data_batch_*.npz"


# -- the worker: one phase in a fresh process ---------------------------------------------------
def status() -> dict[str, float]:
    """VmHWM, VmRSS, RssAnon and RssFile of this process, in MB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in FIELDS:
            values[key] = int(rest.split()[0]) * 1024 / 1e6
    return values


class PeakSampler(threading.Thread):
    """The largest VmRSS, RssAnon and RssFile seen, sampling every ``every`` seconds until stopped."""

    def __init__(self, every: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.every, self.done = every, threading.Event()
        self.peaks = status()

    def sample(self) -> None:
        for key, value in status().items():
            self.peaks[key] = max(self.peaks[key], value)

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.sample()

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.join()
        self.sample()
        return self.peaks


def load_in_memory(directory: Path, size: int):
    """The loader before the cache: every batch read, then concatenated (its train split)."""
    import numpy as np
    import torch

    from pixelar.data.imagenet import read_npz_batch

    files = sorted(directory.rglob(PATTERN), key=lambda path: (len(path.name), path.name))
    parts = [read_npz_batch(path, size) for path in files]
    images = np.concatenate([part_images for part_images, _ in parts])
    labels = np.concatenate([part_labels for _, part_labels in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


def worker(argv: list[str]) -> None:
    """One phase (``--mode``) on the batches in ``--data``; prints its measurements as JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=MODES)
    p.add_argument("--data")
    p.add_argument("--size", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    a = p.parse_args(argv)
    from pixelar.data import ImageDataset
    from pixelar.data.imagenet import load_imagenet
    from pixelar.distributed import Context
    from pixelar.training import StepBatches

    directory = Path(a.data)
    try:  # "5": reset VmHWM to the current resident set (Linux 4.0 and later)
        Path("/proc/self/clear_refs").write_text("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    after_imports = status()
    sampler = PeakSampler()
    sampler.start()
    start = time.perf_counter()
    if a.mode == "in memory":
        images, labels = load_in_memory(directory, a.size)
    else:
        data = load_imagenet(directory, "train", a.size)
        images, labels = data.images, data.labels
    load_s = time.perf_counter() - start
    index_s = gather_s = 0.0
    data = ImageDataset(images, labels, 256, "benchmark")
    order = StepBatches(data, a.batch_size, seed=0, ctx=Context(), labels=True)  # the trainer's indices
    steps = 0 if a.mode == "convert" else a.steps
    for step in range(steps):
        start = time.perf_counter()
        idx = order.indices(step)
        middle = time.perf_counter()
        x = images[idx]
        y = labels[idx]
        index_s += middle - start
        gather_s += time.perf_counter() - middle
        assert x.shape == (len(idx), 3, a.size, a.size) and y.shape == (len(idx),)
    peaks = sampler.stop()
    end = status()
    result = {
        "load_s": load_s,
        "steps": steps,
        "index_ms": 1e3 * index_s / steps if steps else None,
        "gather_ms": 1e3 * gather_s / steps if steps else None,
        "vmhwm_mb": end["VmHWM"],
        "vmhwm_reset": hwm_reset,
        "peak_rss_mb": peaks["VmRSS"],
        "peak_anon_mb": peaks["RssAnon"],
        "peak_file_mb": peaks["RssFile"],
        "anon_after_imports_mb": after_imports["RssAnon"],
        "anon_above_imports_mb": peaks["RssAnon"] - after_imports["RssAnon"],
        "images": len(images),
    }
    print(json.dumps(result))


# -- the parent ---------------------------------------------------------------------------------
def write_batches(directory: Path, images: int, per_batch: int, size: int) -> None:
    """Synthetic batches in the official format, one batch in memory at a time."""
    import numpy as np

    rng = np.random.default_rng(0)
    directory.mkdir(parents=True)
    for index, start in enumerate(range(0, images, per_batch), 1):
        count = min(per_batch, images - start)
        rows = rng.integers(0, 256, (count, 3 * size * size), dtype=np.uint8)
        labels = rng.integers(1, 1001, count)
        np.savez(directory / f"train_data_batch_{index}.npz", data=rows, labels=labels, mean=np.zeros(rows.shape[1]))


def megabytes(paths) -> float:
    return sum(path.stat().st_size for path in paths) / 1e6


def table(rows: list[dict]) -> str:
    head = ["phase", "load s", "ms/batch (index + gather)", "VmHWM", "peak RSS", "peak RssAnon", "peak RssFile"]
    head += ["RssAnon above imports", "dataset in memory"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        per_batch = "" if r["index_ms"] is None else f"{r['index_ms']:.2f} + {r['gather_ms']:.3f}"
        cells = [r["phase"], f"{r['load_s']:.2f}", per_batch, f"{r['vmhwm_mb']:,.0f}", f"{r['peak_rss_mb']:,.0f}"]
        cells += [f"{r['peak_anon_mb']:,.0f}", f"{r['peak_file_mb']:,.0f}", f"{r['anon_above_imports_mb']:,.0f}"]
        cells.append(f"{r['dataset_mb']:,.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "imagenet_memory")
    p.add_argument("--images", type=int, default=200_000, help="synthetic training images")
    p.add_argument("--batch-images", type=int, default=25_000, help="images per npz batch")
    p.add_argument("--size", type=int, choices=(32, 64), default=32, help="imagenet32 or imagenet64")
    p.add_argument("--steps", type=int, default=1000, help="training batches read after loading")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--no-old", action="store_true", help="skip the in-memory loader")
    p.add_argument("--tmp", default=None, help="where the batches and the cache go (default: the system's temp dir)")
    a = harness.parse(p, "imagenet_memory", {"images": 20_000, "batch_images": 5_000, "steps": 100}, argv)
    if not Path("/proc/self/status").exists():
        raise SystemExit("error: this benchmark reads /proc/self/status (Linux)")
    rows = []
    with tempfile.TemporaryDirectory(dir=a.tmp) as tmp_name:
        data = Path(tmp_name) / "imagenet"
        start = time.perf_counter()
        write_batches(data / f"Imagenet{a.size}_train_npz", a.images, a.batch_images, a.size)
        print(f"wrote {a.images:,} images in npz batches of {a.batch_images:,} ({time.perf_counter() - start:.1f} s)")
        sizes = {
            "dataset_mb": a.images * 3 * a.size**2 / 1e6,
            "npz_mb": megabytes(data.rglob(PATTERN)),
        }
        modes = [m for m in MODES if m != "in memory" or not a.no_old]
        for mode in modes:
            args = ["--mode", mode, "--data", str(data), "--size", str(a.size)]
            args += ["--steps", str(a.steps), "--batch-size", str(a.batch_size)]
            result = run_worker(harness.ROOT / "src", args, a.threads, script=__file__)
            if mode == "convert":
                sizes["cache_mb"] = megabytes((data / "pixelar-cache").glob("*.npy"))
            rows.append({"phase": mode, **result, **sizes})
            harness.emit(rows[-1])
    harness.write_results(a.out, "imagenet_memory", rows, ("phase",), a)
    print()
    print(
        f"{a.images:,} images {a.size}×{a.size}: {sizes['dataset_mb']:,.0f} MB in memory, npz batches "
        f"{sizes['npz_mb']:,.0f} MB, cache {sizes['cache_mb']:,.0f} MB on disk; memory in MB"
    )
    print(table(rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER:
        worker(sys.argv[2:])
    else:
        main()
