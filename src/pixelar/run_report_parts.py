"""The sections of a run's report page, each written from what the run holds: its metrics and
loss curves, the sample grids drawn during training, completions and bits heat maps of a few
test images, its configuration and the environment the report is written in."""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pixelar.checkpoint import atomic_write
from pixelar.completion import complete, rows_mask
from pixelar.errors import PixelarError
from pixelar.metrics import bits_per_dim, nats_per_image, preferred_unit
from pixelar.models.base import AutoregressiveModel
from pixelar.plotting import save_completion_grid, save_loss_curve
from pixelar.run_report_page import html_escape, html_figure, html_note, html_section, html_table
from pixelar.training import METRICS_FILE, sample_grids
from pixelar.training_config import CONFIG_FILE, TrainConfig, run_data_source

MAX_GRIDS = 12  # sample grids shown at most, spread evenly over the run (the first and last included)
COMPLETIONS = 4  # completions per test image


@dataclass
class Report:
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


def lead(report: Report) -> str:
    config, steps = report.config, _last(report.records, "train_loss")
    trained = f"{steps['step']:,} of {config.steps:,} steps" if steps else "no logged steps yet"
    if steps and isinstance(steps.get("elapsed"), (int, float)):
        seconds = steps["elapsed"]
        trained += f" in {seconds:.0f} seconds" if seconds < 120 else f" in {seconds / 60:.1f} minutes"
    what = f"{config.model} on {config.data}{' (class-conditional)' if config.conditional else ''}"
    return html_escape(
        f"{what}: {trained}; model {report.model.model_name}, {_param_count(report.model):,} parameters."
    )


def _metrics(report: Report) -> str:
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
    note = "" if final is not None else html_note("No final evaluation yet: the run has not finished training.")
    return html_section("Final metrics", note + html_table(rows) if rows else html_note("No metrics logged yet."))


def _losses(report: Report) -> str:
    metrics = report.run / METRICS_FILE
    if not report.records:
        return html_section("Loss curves", html_note(f"No metrics logged yet ({metrics.name} is missing or empty)."))
    try:
        save_loss_curve(metrics, report.out / "loss.png", report.unit)
        picture = html_figure("loss.png", f"training loss and test NLL ({report.unit}) against the step")
    except PixelarError as e:
        warnings.warn(f"loss curve not drawn: {e}", stacklevel=2)
        picture = html_note(f"Loss curve not drawn: {e}")
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
        table = "<h3>Test evaluations</h3>\n" + html_table(
            evaluations, header=("step", f"test NLL ({report.unit})", "images", ""), numeric=True
        )
    return html_section("Loss curves", picture + table)


def _samples(report: Report) -> str:
    grids = sample_grids(report.run)
    if grids:
        shown = _spread(grids, MAX_GRIDS)
        figures = []
        for step, path in shown:
            relative = f"samples/{path.name}"
            _copy(path, report.out / relative)
            figures.append(html_figure(relative, f"step {step:,}"))
        text = (
            f"<p>Samples of the evaluation model (seed {report.config.seed}, the same for every grid) "
            f"at {len(shown)} of the {len(grids)} evaluations.</p>"
        )
        return html_section("Samples during training", text + '<div class="figures">' + "".join(figures) + "</div>")
    final = report.run / "samples.png"
    if final.is_file():
        _copy(final, report.out / "samples.png")
        return html_section("Samples", html_figure("samples.png", "samples of the final model (samples.png)"))
    why = "the run draws none (num_samples is 0)" if report.config.num_samples == 0 else "none drawn yet"
    return html_section("Samples", html_note(f"No sample grids: {why}."))


def _completions(report: Report) -> str:
    if report.images == 0:
        return ""
    test = report.test_images()
    if isinstance(test, str):
        return html_section("Completions", html_note(test))
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
    return html_section("Completions", text + html_figure("completions.png", f"{len(x)} test images, completed"))


def _bits(report: Report) -> str:
    if report.images == 0:
        return ""
    from pixelar.bits_map import bits_per_subpixel, save_bits_map

    test = report.test_images()
    if isinstance(test, str):
        return html_section("Bits per sub-pixel", html_note(test))
    x, labels = test
    bits = bits_per_subpixel(report.model, x, labels)
    figures = []
    for index in range(len(x)):
        name = f"bits_{index}.png"
        try:
            save_bits_map(x[index].cpu(), bits[index], report.model.num_levels, report.out / name)
        except PixelarError as e:  # an optional extra is missing: the rest of the report stands
            warnings.warn(f"bits heat maps not drawn: {e}", stacklevel=2)
            return html_section("Bits per sub-pixel", html_note(f"Bits heat maps not drawn: {e}"))
        total = float(bits[index].sum())
        figures.append(
            html_figure(name, f"test image {index}: {total:.1f} bits, {total / bits[index].numel():.4f} bits/dim")
        )
    text = "<p>Each test image beside what each of its pixels costs under the model: −log₂ p, in bits.</p>"
    return html_section("Bits per sub-pixel", text + '<div class="figures">' + "".join(figures) + "</div>")


def _ood(report: Report) -> str:
    """The run's out-of-distribution results, when `pixelar ood` wrote them into RUN_DIR/ood."""
    from pixelar.ood.experiment import OOD_DIR, OOD_FIGURE, OOD_JSON

    folder = report.run / OOD_DIR
    try:
        result = json.loads((folder / OOD_JSON).read_text())
        rows = [
            (name, *(f"{m[key]:.3f}" for key in ("auroc", "auprc", "fpr80"))) for name, m in result["metrics"].items()
        ]
        inside, outside, counts = result["in"], result["out"], result["images"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""  # no OOD results (or unreadable ones): no section
    text = (
        f"<p>In-distribution {html_escape(inside)} ({counts['in']:,} images) against {html_escape(outside)} "
        f"({counts['out']:,}), scored by <code>pixelar ood</code>: how well each score tells them apart, the "
        "out-of-distribution images the positive class (FPR80: in-distribution images flagged at 80% TPR).</p>"
    )
    figure = ""
    if (folder / OOD_FIGURE).is_file():
        _copy(folder / OOD_FIGURE, report.out / OOD_FIGURE)
        figure = html_figure(OOD_FIGURE, "each score's histograms, in and out, and the ROC curves")
    return html_section(
        "Out-of-distribution scores",
        text + html_table(rows, ("score", "AUROC", "AUPRC", "FPR80"), numeric=True) + figure,
    )


def _configuration(report: Report) -> str:
    rows = [(name, _value(value)) for name, value in dataclasses.asdict(report.config).items()]
    return html_section(f"Configuration ({CONFIG_FILE})", html_table(rows, values=True))


def _environment(report: Report) -> str:
    device = str(report.model.device)
    if report.model.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(report.model.device)})"
    rows = [
        ("pixelar", pixelar_version()),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("platform", platform.platform()),
        ("device", device),
        ("trained on", report.config.device),
    ]
    text = "<p>Where this report was written (its completions and bits were computed there).</p>"
    return html_section("Environment", text + html_table(rows, values=True))


PARTS: tuple[Callable[[Report], str], ...] = (
    _metrics,
    _losses,
    _samples,
    _completions,
    _bits,
    _ood,
    _configuration,
    _environment,
)  # the sections of the page, in order


# -- small pieces ------------------------------------------------------------------------------


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


def pixelar_version() -> str:
    from pixelar import __version__

    return __version__
