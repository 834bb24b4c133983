"""The files of a run directory that the trainer writes and the reports read: metrics.jsonl,
the sample grids under samples/, and whether a checkpoint is there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pixelar.training_config import CHECKPOINT_FILE

METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"  # the sample grids over time: samples/step_XXXXXXX.png
GRID_SAMPLES = 16  # images per grid in samples/ (at most; TrainConfig.num_samples when fewer)


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether the run in ``run_dir`` has saved a checkpoint (a resumed run without one starts at step 0)."""
    return (Path(run_dir) / CHECKPOINT_FILE).exists()


def grid_path(run_dir: str | Path, step: int) -> Path:
    """Where a run's sample grid of ``step`` is: ``samples/step_XXXXXXX.png``."""
    return Path(run_dir) / SAMPLES_DIR / f"step_{step:07d}.png"


def sample_grids(run_dir: str | Path) -> list[tuple[int, Path]]:
    """The sample grids of a run as (step, path), in step order (none for a run without any)."""
    grids = []
    for path in (Path(run_dir) / SAMPLES_DIR).glob("step_*.png"):
        number = path.stem[len("step_") :]
        if number.isdigit():
            grids.append((int(number), path))
    return sorted(grids)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file, skipping lines that do not parse (a line cut short
    when a run was killed while writing it)."""
    records = []
    for line in Path(path).read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("step"), int):
            records.append(rec)
    return records
