"""A training run as one self-contained HTML page: ``index.html`` and the PNGs it shows, in one
folder (``RUN_DIR/report/`` by default).

The page references its pictures by relative paths (no data: URIs, nothing loaded from
elsewhere), so the folder can be copied, archived or served as it is. It shows the loss curves,
the sample grids drawn during training (``samples/``), completions of a few test images and their
bits heat maps, the final metrics, the run's configuration and the environment the report was
written in. Every text taken from the run (its name, settings, messages) is HTML-escaped.
"""

from __future__ import annotations

import dataclasses
import html
import json
import platform
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from string import Template
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pixelar.checkpoint import CONFIG_FILE as MODEL_CONFIG_FILE
from pixelar.checkpoint import atomic_write, atomic_write_text
from pixelar.completion import complete, rows_mask
from pixelar.errors import PixelarError
from pixelar.loading import load
from pixelar.metrics import bits_per_dim, nats_per_image, preferred_unit
from pixelar.models.base import AutoregressiveModel
from pixelar.plotting import save_completion_grid, save_loss_curve
from pixelar.training import METRICS_FILE, read_metrics, resolve_device, sample_grids
from pixelar.training_config import CONFIG_FILE, TrainConfig, is_run_dir, load_run_config, run_data_source

REPORT_DIR = "report"  # the default output folder, inside the run directory
INDEX_FILE = "index.html"
MAX_GRIDS = 12  # sample grids shown at most, spread evenly over the run (the first and last included)
COMPLETIONS = 4  # completions per test image

__all__ = ["INDEX_FILE", "REPORT_DIR", "write_report"]

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 64rem; margin: 2rem auto;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.lead { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { text-align: left; padding: 0.2rem 0.8rem 0.2rem 0; vertical-align: top; border-bottom: 1px solid #eee; }
th { font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, td.value { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; word-break: break-all; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; }
figcaption { font-size: 0.85em; color: #555; }
img { image-rendering: pixelated; max-width: 100%; border: 1px solid #ddd; }
.note { color: #8a5a00; }
footer { margin-top: 3rem; font-size: 0.8em; color: #777; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="lead">$lead</p>
$body
<footer>Written by pixelar $version on $written.</footer>
</body>
</html>
""")


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
    report = _Report(run, target, config, model, read_metrics(metrics) if metrics.is_file() else [], images, progress)
    parts = [_metrics, _losses, _samples, _completions, _bits, _configuration, _environment]
    body = [part(report) for part in tqdm(parts, desc="report", unit="part", disable=not progress)]
    page = PAGE.substitute(
        title=_e(f"Training run {run.resolve().name}"),
        lead=_lead(report),
        body="\n".join(body),
        version=_e(_version()),
        written=_e(datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
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


@dataclass
class _Report:
    """What the parts of a report read, and the test images they share (loaded once)."""

    run: Path
    out: Path
    config: TrainConfig
    model: AutoregressiveModel
    records: list[dict[str, Any]]
    images: int
    progress: bool
    _test: tuple[Tensor, Tensor | None] | str | None = field(default=None, repr=False)

    @property
    def unit(self) -> str:
        """The unit of the run's losses: metrics.jsonl's (else the one training would use)."""
        units = [rec["unit"] for rec in self.records if rec.get("unit") in ("nats", "bits/dim")]
        return units[0] if units else preferred_unit(self.model.num_levels)

    def nats(self, value: float) -> float:
        """An NLL in the run's unit as nats per image."""
        return value if self.unit == "nats" else nats_per_image(value, self.model.image_shape)

    def test_images(self) -> tuple[Tensor, Tensor | None] | str:
        """The first ``images`` test images of the run's dataset and their labels for a
        class-conditional model, or why they cannot be had (one line)."""
        if self._test is None:
            try:
                source = run_data_source(self.run, self.model.image_shape)
                data = source.load("test", self.model.image_shape[0]).subset(self.images)
                data.check_compatible(self.model.image_shape, self.model.num_levels)
                if self.model.num_classes and data.labels is None:
                    raise PixelarError(f"the model is class-conditional but {data.name} has no labels")
                labels = (
                    data.labels.to(self.model.device) if self.model.num_classes and data.labels is not None else None
                )
                self._test = (data.images.long().to(self.model.device), labels)
            except PixelarError as e:
                self._test = f"the run's test images cannot be read: {e}"
        return self._test


# -- the parts of the page ---------------------------------------------------------------------


def _lead(report: _Report) -> str:
    config, steps = report.config, _last(report.records, "train_loss")
    trained = f"{steps['step']:,} of {config.steps:,} steps" if steps else "no logged steps yet"
    if steps and isinstance(steps.get("elapsed"), (int, float)):
        seconds = steps["elapsed"]
        trained += f" in {seconds:.0f} seconds" if seconds < 120 else f" in {seconds / 60:.1f} minutes"
    what = f"{config.model} on {config.data}{' (class-conditional)' if config.conditional else ''}"
    return _e(f"{what}: {trained}; model {report.model.model_name}, {_param_count(report.model):,} parameters.")


def _metrics(report: _Report) -> str:
    rows: list[tuple[str, str]] = []
    shape = report.model.image_shape
    for final, label in (
        (True, "final test NLL (whole test split{images}, step {step})"),
        (False, "last test NLL during training (step {step}{images})"),
    ):
        record = _last([rec for rec in report.records if bool(rec.get("final")) == final], "test_loss")
        if record is None:
            continue
        nats = report.nats(record["test_loss"])
        images = f", {record['test_images']:,} images" if isinstance(record.get("test_images"), int) else ""
        text = f"{nats:.3f} nats/image · {bits_per_dim(nats, shape):.4f} bits/dim"
        rows.append((label.format(images=images, step=f"{record['step']:,}"), text))
    train = _last(report.records, "train_loss")
    if train is not None:
        rows.append(
            (f"last training loss (step {train['step']:,}, batch mean)", f"{train['train_loss']:.4f} {report.unit}")
        )
    note = "" if final is not None else _note("No final evaluation yet: the run has not finished training.")
    return _section("Final metrics", note + _table(rows) if rows else _note("No metrics logged yet."))


def _losses(report: _Report) -> str:
    metrics = report.run / METRICS_FILE
    if not report.records:
        return _section("Loss curves", _note(f"No metrics logged yet ({metrics.name} is missing or empty)."))
    try:
        save_loss_curve(metrics, report.out / "loss.png", report.unit)
        picture = _figure("loss.png", f"training loss and test NLL ({report.unit}) against the step")
    except PixelarError as e:
        warnings.warn(f"loss curve not drawn: {e}", stacklevel=2)
        picture = _note(f"Loss curve not drawn: {e}")
    evaluations = [
        (
            f"{rec['step']:,}",
            f"{rec['test_loss']:.4f}",
            str(rec.get("test_images", "")),
            "final" if rec.get("final") else "",
        )
        for rec in report.records
        if isinstance(rec.get("test_loss"), (int, float)) and not isinstance(rec["test_loss"], bool)
    ]
    table = ""
    if evaluations:
        table = "<h3>Test evaluations</h3>\n" + _table(
            evaluations, header=("step", f"test NLL ({report.unit})", "images", ""), numeric=True
        )
    return _section("Loss curves", picture + table)


def _samples(report: _Report) -> str:
    grids = sample_grids(report.run)
    if grids:
        shown = _spread(grids, MAX_GRIDS)
        figures = []
        for step, path in shown:
            relative = f"samples/{path.name}"
            _copy(path, report.out / relative)
            figures.append(_figure(relative, f"step {step:,}"))
        text = (
            f"<p>Samples of the evaluation model (seed {report.config.seed}, the same for every grid) "
            f"at {len(shown)} of the {len(grids)} evaluations.</p>"
        )
        return _section("Samples during training", text + '<div class="figures">' + "".join(figures) + "</div>")
    final = report.run / "samples.png"
    if final.is_file():
        _copy(final, report.out / "samples.png")
        return _section("Samples", _figure("samples.png", "samples of the final model (samples.png)"))
    why = "the run draws none (num_samples is 0)" if report.config.num_samples == 0 else "none drawn yet"
    return _section("Samples", _note(f"No sample grids: {why}."))


def _completions(report: _Report) -> str:
    if report.images == 0:
        return ""
    test = report.test_images()
    if isinstance(test, str):
        return _section("Completions", _note(test))
    x, labels = test
    H = report.model.image_shape[1]
    keep = H // 2
    known = rows_mask(report.model.image_shape, keep)
    out = complete(
        report.model, x, known, n=COMPLETIONS, cond=labels, generator=report.config.seed, progress=report.progress
    )
    save_completion_grid(x, known, out, report.model.num_levels, report.out / "completions.png")
    text = (
        f"<p>Each row: a test image with its bottom {H - keep} of {H} rows hidden, {COMPLETIONS} completions "
        f"sampled by the model (seed {report.config.seed}), and the original.</p>"
    )
    return _section("Completions", text + _figure("completions.png", f"{len(x)} test images, completed"))


def _bits(report: _Report) -> str:
    if report.images == 0:
        return ""
    from pixelar.bits_map import bits_per_subpixel, save_bits_map

    test = report.test_images()
    if isinstance(test, str):
        return _section("Bits per sub-pixel", _note(test))
    x, labels = test
    bits = bits_per_subpixel(report.model, x, labels)
    figures = []
    for index in range(len(x)):
        name = f"bits_{index}.png"
        try:
            save_bits_map(x[index].cpu(), bits[index], report.model.num_levels, report.out / name)
        except PixelarError as e:  # an optional extra is missing: the rest of the report stands
            warnings.warn(f"bits heat maps not drawn: {e}", stacklevel=2)
            return _section("Bits per sub-pixel", _note(f"Bits heat maps not drawn: {e}"))
        total = float(bits[index].sum())
        figures.append(
            _figure(name, f"test image {index}: {total:.1f} bits, {total / bits[index].numel():.4f} bits/dim")
        )
    text = "<p>Each test image beside what each of its pixels costs under the model: −log₂ p, in bits.</p>"
    return _section("Bits per sub-pixel", text + '<div class="figures">' + "".join(figures) + "</div>")


def _configuration(report: _Report) -> str:
    rows = [(name, _value(value)) for name, value in dataclasses.asdict(report.config).items()]
    return _section(f"Configuration ({CONFIG_FILE})", _table(rows, values=True))


def _environment(report: _Report) -> str:
    device = str(report.model.device)
    if report.model.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(report.model.device)})"
    rows = [
        ("pixelar", _version()),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("platform", platform.platform()),
        ("device", device),
        ("trained on", report.config.device),
    ]
    text = "<p>Where this report was written (its completions and bits were computed there).</p>"
    return _section("Environment", text + _table(rows, values=True))


# -- small pieces ------------------------------------------------------------------------------


def _e(text: object) -> str:
    """Text for HTML, quotes included (safe in element content and attribute values)."""
    return html.escape(str(text), quote=True)


def _section(title: str, content: str) -> str:
    return f"<section>\n<h2>{_e(title)}</h2>\n{content}\n</section>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _figure(src: str, caption: str) -> str:
    """A picture of the report folder (``src`` relative to it) with its caption."""
    return f'<figure><img src="{_e(src)}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>'


def _table(
    rows: Sequence[tuple[str, ...]], header: tuple[str, ...] | None = None, values: bool = False, numeric: bool = False
) -> str:
    """An HTML table of text cells: the first cell of a row is its heading."""
    lines = ["<table>"]
    if header:
        lines.append("<tr>" + "".join(f"<th>{_e(cell)}</th>" for cell in header) + "</tr>")
    cls = ' class="value"' if values else ' class="num"' if numeric else ""
    for first, *rest in rows:
        lines.append(f"<tr><th>{_e(first)}</th>" + "".join(f"<td{cls}>{_e(cell)}</td>" for cell in rest) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _value(value: Any) -> str:
    """A setting as text: strings as they are, anything else as JSON (null, true, [0.9, 0.999])."""
    return value if isinstance(value, str) else json.dumps(value)


def _last(records: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The last record with a numeric ``key``."""
    return next((rec for rec in reversed(records) if isinstance(rec.get(key), (int, float))), None)


def _spread(items: list[tuple[int, Path]], count: int) -> list[tuple[int, Path]]:
    """At most ``count`` of ``items``, evenly spread, the first and the last included."""
    if len(items) <= count:
        return items
    picks = sorted({round(i * (len(items) - 1) / (count - 1)) for i in range(count)})
    return [items[i] for i in picks]


def _copy(source: Path, target: Path) -> None:
    """Copy a picture into the report folder atomically (nothing when it is already there)."""
    if target.exists() and target.resolve() == source.resolve():
        return
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def _param_count(model: AutoregressiveModel) -> int:
    return sum(p.numel() for p in model.parameters())


def _version() -> str:
    from pixelar import __version__

    return __version__
