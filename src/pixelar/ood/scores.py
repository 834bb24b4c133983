"""Per-image out-of-distribution scores from exact likelihoods (:func:`score`).

* the NLL itself (Nalisnick et al., ICLR 2019, show its failure: a Fashion-MNIST model gives
  MNIST digits *higher* likelihood than its own test images);
* the likelihood ratio log p(x) − log p_B(x) against a background model p_B trained on perturbed
  inputs (Ren et al., NeurIPS 2019, Section 3; ``pixelar train ... --perturb 0.2``);
* the complexity-corrected score S(x) = −log2 p(x) − L(x), L(x) the bits a lossless compressor
  needs for x (Serrà et al., ICLR 2020, Section 3);
* the typicality statistic |−(1/M) Σ_m log p(x_m) − Ĥ|, Ĥ the model's mean NLL on in-distribution
  data (Nalisnick et al. 2019b, "Detecting Out-of-Distribution Inputs to Deep Generative Models
  Using a Test for Typicality", Section 3), per image (M = 1) here and over batches in
  :func:`typicality`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from pixelar.checkpoint import atomic_write_text
from pixelar.data.base import ImageDataset
from pixelar.errors import PixelarError
from pixelar.evaluation import log_probs
from pixelar.models.base import AutoregressiveModel
from pixelar.ood.complexity import complexity_bits


@dataclass
class Scores:
    """The scores of N images under one model; every tensor is [N] float64.

    Attributes:
        nll: negative log-likelihood in nats per image; ``bits_per_dim`` the same per sub-pixel.
        likelihood_ratio: log p(x) − log p_B(x) in nats (larger: more like the training data,
            as in Ren et al.), or None without a background model.
        complexity: L(x) in bits per image, by compressor (see :data:`COMPLEXITIES`).
        corrected: S(x) = −log2 p(x) − L(x) in bits, by compressor (larger: more out of
            distribution, as in Serrà et al.).
        typicality: |nll − entropy| in nats (the M = 1 statistic), or None without an entropy.
    """

    nll: Tensor
    bits_per_dim: Tensor
    likelihood_ratio: Tensor | None = None
    complexity: dict[str, Tensor] = field(default_factory=dict)
    corrected: dict[str, Tensor] = field(default_factory=dict)
    typicality: Tensor | None = None

    def __len__(self) -> int:
        return len(self.nll)

    def ood_scores(self) -> dict[str, Tensor]:
        """Every score, oriented so that larger means "more out of distribution", by name:
        likelihood (the NLL), likelihood ratio (its negation), complexity (NAME) (S) and typicality."""
        out = {"likelihood": self.nll}
        if self.likelihood_ratio is not None:
            out["likelihood ratio"] = -self.likelihood_ratio
        out.update({f"complexity ({name})": s for name, s in self.corrected.items()})
        if self.typicality is not None:
            out["typicality"] = self.typicality
        return out

    def columns(self) -> dict[str, Tensor]:
        """Every per-image column of a scores table, by its CSV header."""
        out = {"nll_nats": self.nll, "bits_per_dim": self.bits_per_dim}
        if self.likelihood_ratio is not None:
            out["likelihood_ratio_nats"] = self.likelihood_ratio
        for name in self.complexity:
            out[f"complexity_{name}_bits"] = self.complexity[name]
            out[f"corrected_{name}_bits"] = self.corrected[name]
        if self.typicality is not None:
            out["typicality_nats"] = self.typicality
        return out

    def write_csv(self, path: str | Path, names: Sequence[str] | None = None) -> Path:
        """The scores as a CSV table, one row per image (first column ``image``: ``names``, else
        the index), written atomically."""
        columns = self.columns()
        names = [str(i) for i in range(len(self))] if names is None else list(names)
        if len(names) != len(self):
            raise PixelarError(f"{len(names)} names for {len(self)} images")
        lines: list[list[str]] = [["image", *columns]]
        values = [column.tolist() for column in columns.values()]
        lines += [[name, *(f"{v[i]:.6f}" for v in values)] for i, name in enumerate(names)]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(lines)
        path = Path(path)
        atomic_write_text(path, buffer.getvalue())
        return path


def _images(images: Tensor | ImageDataset, model: AutoregressiveModel, what: str = "images") -> Tensor:
    """The image tensor of ``images``, checked against ``model`` (a dataset's labels are not read:
    a class-conditional model scores the marginal over its classes)."""
    if isinstance(images, ImageDataset):
        images.check_compatible(model.image_shape, model.num_levels)
        images = images.images
    if not isinstance(images, Tensor):
        raise PixelarError(f"images must be a tensor [N, C, H, W] or an ImageDataset, not {type(images).__name__}")
    if len(images) == 0:
        raise PixelarError(f"no {what} to score: pass at least one image")
    return images


def _check_background(model: AutoregressiveModel, background: AutoregressiveModel) -> None:
    """A one-line error unless ``background`` takes the images ``model`` takes."""
    if background.image_shape != model.image_shape or background.num_levels != model.num_levels:
        C, H, W = background.image_shape
        c, h, w = model.image_shape
        raise PixelarError(
            f"the background model takes {C}×{H}×{W} images of {background.num_levels} levels, the model "
            f"{c}×{h}×{w} of {model.num_levels}: train the background on the model's data "
            "(pixelar train ... --perturb 0.2)",
            param="background",
        )


def score(
    model: AutoregressiveModel,
    images: Tensor | ImageDataset,
    background: AutoregressiveModel | None = None,
    complexity: str | Sequence[str] | None = (),
    complexity_model: AutoregressiveModel | None = None,
    entropy: float | None = None,
    cond: Tensor | None = None,
    batch_size: int = 256,
    progress: bool = False,
) -> Scores:
    """Per-image OOD scores of ``images`` ([N, C, H, W] level indices, or an ImageDataset) under
    ``model``: the NLL always; the likelihood ratio against ``background``; for each compressor
    in ``complexity`` ("png", "jxl", "model": pixelar's codec with ``complexity_model``) the
    corrected score; with ``entropy`` (the model's mean NLL in nats on in-distribution images,
    e.g. :func:`estimate_entropy`) the typicality statistic. A class-conditional model scores
    under ``cond`` when given, else the marginal over its classes (an OOD score is of p(x))."""
    x = _images(images, model)
    names = [complexity] if isinstance(complexity, str) else list(complexity or ())
    if background is not None:
        _check_background(model, background)
    if complexity_model is not None and "model" not in names:
        raise PixelarError("complexity_model is used by complexity 'model' only: add it or drop the model")
    nll = -log_probs(model, x, cond, batch_size, progress)
    scores = Scores(nll, nll / (math.prod(model.image_shape) * math.log(2)))
    if background is not None:
        given = cond if background.num_classes else None
        scores.likelihood_ratio = -nll - log_probs(background, x, given, batch_size)
    for name in names:
        bits = complexity_bits(x, model.num_levels, name, complexity_model if name == "model" else None, progress)
        scores.complexity[name] = bits
        scores.corrected[name] = nll / math.log(2) - bits
    if entropy is not None:
        scores.typicality = typicality(nll, entropy)
    return scores


def estimate_entropy(
    model: AutoregressiveModel, images: Tensor | ImageDataset, batch_size: int = 256, progress: bool = False
) -> float:
    """Ĥ: the model's mean NLL in nats over in-distribution ``images`` (the typicality test's
    estimate of the entropy of the model's distribution)."""
    x = _images(images, model, "in-distribution images")
    return float(-log_probs(model, x, None, batch_size, progress).mean())


def typicality(nll: Tensor, entropy: float, batch: int = 1) -> Tensor:
    """The typicality statistic |mean NLL of a batch − ``entropy``| of each run of ``batch``
    consecutive images (the last, shorter run included) [ceil(N / batch)]."""
    if batch < 1:
        raise PixelarError(f"the typicality batch must be >= 1 image, got {batch}")
    means = torch.stack([part.mean() for part in nll.double().split(batch)]) if len(nll) else nll.double()
    return (means - entropy).abs()


def typicality_threshold(
    reference_nll: Tensor, entropy: float, batch: int = 1, alpha: float = 0.99, resamples: int = 1000, seed: int = 0
) -> float:
    """The test's ε: the ``alpha`` quantile of the statistic over ``resamples`` bootstrap batches
    of ``batch`` in-distribution NLLs (Nalisnick et al. 2019b, Algorithm 1); a batch whose
    statistic exceeds it is declared out of distribution."""
    if len(reference_nll) == 0:
        raise PixelarError("no in-distribution NLLs to bootstrap the threshold from")
    if batch < 1 or resamples < 1 or not 0 < alpha < 1:
        raise PixelarError(
            f"the threshold needs batch >= 1, resamples >= 1 and alpha in (0, 1), got {batch}, {resamples}, {alpha}"
        )
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, len(reference_nll), (resamples, batch), generator=generator)
    statistic = (reference_nll.double()[picks].mean(1) - entropy).abs()
    return float(torch.quantile(statistic, alpha))
