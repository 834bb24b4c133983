"""The page's OOD score panel: the scores :func:`pixelar.ood.score` gives an uploaded image under
a model (NLL, bits/dim, the PNG complexity-corrected score, typicality) beside their distribution
over the first images of the model's own training data, its *reference*.

A model's reference is computed on the first request that needs it, with the model held
(:meth:`pixelar.web.catalog.Catalog.use`, which also keeps two requests from computing it at
once), and kept for the app's lifetime — as is the reason there is none (a saved model names no
data; a standard dataset is not in the data directory: nothing is downloaded). Then the image's
own scores come alone, with a one-line ``note`` saying why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pixelar.errors import PixelarError
from pixelar.models.base import AutoregressiveModel
from pixelar.ood import score, typicality
from pixelar.pretrained import card_of
from pixelar.training_config import is_run_dir, run_data_source
from pixelar.web.catalog import Entry
from pixelar.web.work import Work, _labels, one_line

REFERENCE_IMAGES = 500  # the training images a model's reference holds (the first ones)
BINS = 30  # the bars of each reference histogram
SPLIT = "train"


@dataclass(frozen=True)
class Distribution:
    """One score over a reference: its values, sorted (for percentiles), and their histogram."""

    values: np.ndarray
    edges: list[float]
    counts: list[int]

    @classmethod
    def of(cls, values: torch.Tensor) -> Distribution:
        v = np.sort(values.double().numpy())
        counts, edges = np.histogram(v, bins=BINS)
        return cls(v, [round(float(e), 6) for e in edges], counts.tolist())

    def percentile(self, value: float | None) -> float | None:
        """The percentage of the reference below ``value`` (ties counting half), in [0, 100]."""
        if value is None or math.isnan(value):
            return None
        below = np.searchsorted(self.values, value, "left") + np.searchsorted(self.values, value, "right")
        return round(50.0 * float(below) / len(self.values), 2)

    def compare(self, value: float | None) -> dict[str, Any]:
        """The histogram, the mean and ``value``'s percentile."""
        return {
            "edges": self.edges,
            "counts": self.counts,
            "mean": float(self.values.mean()),
            "percentile": self.percentile(value),
        }


@dataclass(frozen=True)
class Reference:
    """A model's scores of ``images`` of its training data ``data`` (each score's
    :class:`Distribution` by the name the endpoint gives it) and ``entropy``: their mean NLL in
    nats, the typicality test's Ĥ (:func:`pixelar.ood.estimate_entropy` of the same images)."""

    data: str
    images: int
    entropy: float
    scores: dict[str, Distribution]


class OODWork:
    """The OOD panel's work on the models of ``work`` (its catalogue, limits and upload reader),
    each compared with ``images`` of its training images."""

    def __init__(self, work: Work, images: int = REFERENCE_IMAGES) -> None:
        if images < 1:
            raise PixelarError(f"the OOD reference needs at least 1 training image, got {images}")
        self.work = work
        self.images = images
        # by model name: its reference, or the one line saying why there is none; a model's entry
        # is read and written only while that model is held
        self.references: dict[str, Reference | str] = {}

    def score(self, name: str | None, data: bytes, filename: str | None, label: int | None) -> dict[str, Any]:
        """The uploaded image's scores, and (``reference``, else None and a ``note``) each
        score's histogram over the model's training images with the image's percentile in it."""
        entry = self.work.catalog.entry(name)
        with self.work.catalog.use(entry.name) as model:
            _, H, W = model.image_shape
            x = torch.stack(self.work.read_for(model, data, filename, 1, size=(H, W)))
            cond = _labels(model, label, 1)
            if entry.name not in self.references:
                self.references[entry.name] = self.reference(entry, model)
            found = self.references[entry.name]
            reference = found if isinstance(found, Reference) else None
            scores = score(
                model, x, complexity="png", entropy=None if reference is None else reference.entropy, cond=cond
            )
        values = {
            "bits_per_dim": float(scores.bits_per_dim[0]),
            "corrected_png_bits": float(scores.corrected["png"][0]),
            "typicality_nats": None if scores.typicality is None else float(scores.typicality[0]),
        }
        out: dict[str, Any] = {
            "nll_nats": _finite(float(scores.nll[0])),
            "png_bits": float(scores.complexity["png"][0]),
            **{key: _finite(value) for key, value in values.items()},
            "reference": None,
            "note": None if reference is not None else found,
        }
        if reference is not None:
            out["reference"] = {
                "data": reference.data,
                "split": SPLIT,
                "images": reference.images,
                "entropy_nats": reference.entropy,
                "scores": {key: distribution.compare(values[key]) for key, distribution in reference.scores.items()},
            }
        return out

    def reference(self, entry: Entry, model: AutoregressiveModel) -> Reference | str:
        """The scores of the first :attr:`images` training images of ``entry``'s run (or pretrained
        model), or why there are none (one line)."""
        if not is_run_dir(entry.path) and card_of(entry.path) is None:
            return "this model is not a training run, so it names no training data: its scores are shown alone"
        data = "the model's training data"
        try:
            source = run_data_source(entry.path, model.image_shape)
            data = source.data
            dataset = source.load(SPLIT, model.image_shape[0], download=False).subset(self.images)
            scores = score(model, dataset, complexity="png")
        except (PixelarError, OSError, ImportError) as e:
            return one_line(f"no reference: {data} could not be read ({e}); the image's scores are shown alone")
        finite = torch.isfinite(scores.nll)
        if not finite.all():
            return f"no reference: the model gives {int((~finite).sum())} of its training images probability 0"
        entropy = float(scores.nll.mean())  # estimate_entropy of these images, without scoring them twice
        return Reference(
            source.data,
            len(scores),
            entropy,
            {
                "bits_per_dim": Distribution.of(scores.bits_per_dim),
                "corrected_png_bits": Distribution.of(scores.corrected["png"]),
                "typicality_nats": Distribution.of(typicality(scores.nll, entropy)),
            },
        )


def _finite(value: float | None) -> float | None:
    """``value``, or None (JSON null) where it is infinite or not a number (JSON has neither)."""
    return value if value is not None and math.isfinite(value) else None
