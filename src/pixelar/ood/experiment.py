"""An in-distribution set against an out-of-distribution one: every score of both, their
detection metrics (:func:`ood_experiment`), as JSON and as a figure (:func:`save_ood_figure`):
the scores' histograms, in against out, and their ROC curves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from pixelar.checkpoint import atomic_write, atomic_write_text
from pixelar.data.base import ImageDataset
from pixelar.errors import PixelarError
from pixelar.models.base import AutoregressiveModel
from pixelar.ood.metrics import detection_metrics, roc_curve
from pixelar.ood.scores import Scores, estimate_entropy, score, typicality

OOD_JSON, OOD_FIGURE = "ood.json", "ood.png"  # what `pixelar ood` writes (and `pixelar report` shows)
OOD_DIR = "ood"  # where in a run directory


@dataclass
class OODResult:
    """The scores of an in-distribution and an out-of-distribution set, and each score's
    detection metrics (``{"auroc", "auprc", "fpr80"}`` by score name; OOD is the positive class)."""

    inside: str
    outside: str
    scores_in: Scores
    scores_out: Scores
    metrics: dict[str, dict[str, float]]
    entropy: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The metrics, the sets' names and sizes, and each score's mean over each set."""
        means = {
            name: {"in": float(self.scores_in.ood_scores()[name].mean()), "out": float(values.mean())}
            for name, values in self.scores_out.ood_scores().items()
        }
        return {
            "in": self.inside,
            "out": self.outside,
            "images": {"in": len(self.scores_in), "out": len(self.scores_out)},
            "bits_per_dim": {
                "in": float(self.scores_in.bits_per_dim.mean()),
                "out": float(self.scores_out.bits_per_dim.mean()),
            },
            "entropy_nats": self.entropy,
            "settings": self.settings,
            "metrics": self.metrics,
            "means": means,
        }


def ood_experiment(
    model: AutoregressiveModel,
    inside: Tensor | ImageDataset,
    outside: Tensor | ImageDataset,
    background: AutoregressiveModel | None = None,
    complexity: str | Sequence[str] = (),
    complexity_model: AutoregressiveModel | None = None,
    reference: Tensor | ImageDataset | None = None,
    names: tuple[str, str] = ("in", "out"),
    typicality_batch: int = 1,
    batch_size: int = 256,
    progress: bool = False,
    settings: dict[str, Any] | None = None,
) -> OODResult:
    """Score ``inside`` and ``outside`` with every score :func:`pixelar.ood.score` gives (the
    typicality statistic when ``reference``, in-distribution images the test does not score, is
    given to estimate the entropy from) and measure how well each tells them apart. With
    ``typicality_batch`` M > 1 the typicality test is also measured on batches of M consecutive
    images of each set ("typicality (M=…)"), as Nalisnick et al. (2019b) apply it. ``settings``
    (what was compared, for the record) go into the JSON."""
    for data, name in ((inside, names[0]), (outside, names[1])):
        if len(data) == 0:
            raise PixelarError(f"the set {name} holds no images: pass a non-empty set")
    if typicality_batch < 1:
        raise PixelarError(f"typicality_batch must be >= 1, got {typicality_batch}", param="typicality_batch")
    entropy = None if reference is None else estimate_entropy(model, reference, batch_size, progress)
    options = dict(
        background=background,
        complexity=complexity,
        complexity_model=complexity_model,
        entropy=entropy,
        batch_size=batch_size,
        progress=progress,
    )
    scores_in = score(model, inside, **options)  # type: ignore[arg-type]
    scores_out = score(model, outside, **options)  # type: ignore[arg-type]
    out_scores = scores_out.ood_scores()
    metrics = {
        name: detection_metrics(values.numpy(), out_scores[name].numpy())
        for name, values in scores_in.ood_scores().items()
    }
    if entropy is not None and typicality_batch > 1:
        batched = [typicality(s.nll, entropy, typicality_batch).numpy() for s in (scores_in, scores_out)]
        metrics[f"typicality (M={typicality_batch})"] = detection_metrics(*batched)
    return OODResult(names[0], names[1], scores_in, scores_out, metrics, entropy, dict(settings or {}))


def save_ood_result(result: OODResult, directory: str | Path) -> tuple[Path, Path]:
    """``ood.json`` and ``ood.png`` in ``directory``, written atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = atomic_write_text(directory / OOD_JSON, json.dumps(result.to_json(), indent=2) + "\n")
    return data, save_ood_figure(result, directory / OOD_FIGURE)


def save_ood_figure(result: OODResult, path: str | Path) -> Path:
    """Each score's histogram over the in- and out-of-distribution images (with its AUROC), and
    all the scores' ROC curves in one panel, as a PNG."""
    try:
        import matplotlib
    except ImportError:
        raise PixelarError("the OOD figure needs matplotlib: pip install 'pixelar[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores_in, scores_out = result.scores_in.ood_scores(), result.scores_out.ood_scores()
    count = len(scores_in) + 1
    columns = min(3, count)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    panels = list(axes.flat)
    for ax, name in zip(panels, scores_in):
        a, b = scores_in[name].numpy(), scores_out[name].numpy()
        edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=60)
        ax.hist(a, bins=edges, alpha=0.6, density=True, label=f"{result.inside} (in)")
        ax.hist(b, bins=edges, alpha=0.6, density=True, label=f"{result.outside} (out)")
        ax.set_title(f"{name}: AUROC {result.metrics[name]['auroc']:.3f}", fontsize=10)
        ax.set_xlabel("score (larger: more out of distribution)", fontsize=8)
        ax.legend(fontsize=7)
    roc = panels[len(scores_in)]
    for name in scores_in:
        fpr, tpr = roc_curve(scores_in[name].numpy(), scores_out[name].numpy())
        roc.plot(fpr, tpr, label=f"{name} ({result.metrics[name]['auroc']:.3f})")
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    roc.set_xlabel("false-positive rate (in flagged)", fontsize=8)
    roc.set_ylabel("true-positive rate (out flagged)", fontsize=8)
    roc.set_title(f"ROC: {result.inside} in, {result.outside} out", fontsize=10)
    roc.legend(fontsize=7)
    for ax in panels[count:]:
        ax.axis("off")
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    finally:
        plt.close(fig)
