"""A training run as one self-contained HTML page: ``index.html`` and the PNGs it shows, in one
folder (``RUN_DIR/report/`` by default).

The page references its pictures by relative paths (no data: URIs, nothing loaded from
elsewhere), so the folder can be copied, archived or served as it is. It shows the loss curves,
the sample grids drawn during training (``samples/``), completions of a few test images and their
bits heat maps, the final metrics, the run's configuration and the environment the report was
written in. Every text taken from the run (its name, settings, messages) is HTML-escaped.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from pixelar.checkpoint import CONFIG_FILE as MODEL_CONFIG_FILE
from pixelar.checkpoint import atomic_write_text
from pixelar.errors import PixelarError
from pixelar.loading import load
from pixelar.run_report_page import PAGE, html_escape
from pixelar.run_report_parts import PARTS, Report, lead, pixelar_version
from pixelar.training import METRICS_FILE, read_metrics, resolve_device
from pixelar.training_config import CONFIG_FILE, is_run_dir, load_run_config

REPORT_DIR = "report"  # the default output folder, inside the run directory
INDEX_FILE = "index.html"

__all__ = ["INDEX_FILE", "REPORT_DIR", "write_report"]


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    images: int = 4,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Write the HTML report of the training run in ``run_dir``; returns the path of its index.html.

    ``out`` is the report's folder (default ``run_dir/report``); ``images`` test images of the
    run's dataset are completed from their top half and shown as bits heat maps (0: neither);
    the model runs on ``device``. Raises a :class:`PixelarError` for a directory that is not a
    training run or has no saved model yet.
    """
    if not isinstance(images, int) or isinstance(images, bool) or images < 0:
        raise PixelarError(f"images must be an integer >= 0, got {images!r}", param="images")
    run = _check_run_dir(Path(run_dir))
    config = load_run_config(run)
    model = load(run, device=resolve_device(device))
    target = run / REPORT_DIR if out is None else Path(out)
    if target.exists() and not target.is_dir():
        raise PixelarError(f"{target} is a file; pass a directory for the report")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PixelarError(
            f"cannot create the report directory {target} ({e.strerror or e.__class__.__name__}); pass another one"
        ) from None
    metrics = run / METRICS_FILE
    report = Report(run, target, config, model, read_metrics(metrics) if metrics.is_file() else [], images, progress)
    body = [part(report) for part in tqdm(PARTS, desc="report", unit="part", disable=not progress)]
    page = PAGE.substitute(
        title=html_escape(f"Training run {run.resolve().name}"),
        lead=lead(report),
        body="\n".join(body),
        version=html_escape(pixelar_version()),
        written=html_escape(datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    )
    return atomic_write_text(target / INDEX_FILE, page)


def _check_run_dir(run: Path) -> Path:
    """``run`` when it is a training run directory, else a one-line error saying what it is."""
    fix = "pass the run directory of 'pixelar train'"
    if not run.exists():
        raise PixelarError(f"{run} does not exist; {fix}")
    if not run.is_dir():
        raise PixelarError(f"{run} is a file, not a training run; {fix}")
    if not is_run_dir(run):
        if (run / MODEL_CONFIG_FILE).exists():
            raise PixelarError(f"{run} is a saved model, not a training run, so it has no training to report; {fix}")
        raise PixelarError(f"{run} is not a training run (it holds no {CONFIG_FILE}); {fix}")
    return run
