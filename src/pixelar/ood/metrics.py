"""Detection metrics of an OOD score: AUROC, AUPRC and the false-positive rate at 80% true
positives, with out-of-distribution images as the positive class and larger scores meaning
"more out of distribution" (Ren et al. 2019, Section 5)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pixelar.errors import PixelarError


def _pair(inside: Sequence[float] | np.ndarray, outside: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(inside, dtype=np.float64).ravel(), np.asarray(outside, dtype=np.float64).ravel()
    if len(a) == 0 or len(b) == 0:
        raise PixelarError(
            f"a detection metric needs in- and out-of-distribution scores, got {len(a)} and {len(b)}; pass both sets"
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise PixelarError("the scores hold NaN or infinite values; check the model and the images")
    return a, b


def auroc(inside: Sequence[float] | np.ndarray, outside: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve: the probability that an OOD image scores above an
    in-distribution one, ties counting half (the Mann-Whitney U statistic over n_in · n_out)."""
    a, b = _pair(inside, outside)
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    values = both[order]  # average the ranks of tied values
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends):
        if end - start > 1:
            ranks[order[start:end]] = (start + 1 + end) / 2
    u = ranks[len(a) :].sum() - len(b) * (len(b) + 1) / 2
    return float(u / (len(a) * len(b)))


def _curve(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(true positives, false positives) at each distinct threshold, from the highest down."""
    scores = np.concatenate([a, b])
    positive = np.r_[np.zeros(len(a)), np.ones(len(b))]
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    last = np.r_[np.flatnonzero(scores[1:] != scores[:-1]), len(scores) - 1]  # a threshold's last index
    tp = np.cumsum(positive)[last]
    fp = (last + 1) - tp
    return tp, fp


def auprc(inside: Sequence[float] | np.ndarray, outside: Sequence[float] | np.ndarray) -> float:
    """Area under the precision-recall curve of the OOD class: average precision, the precision at
    each threshold weighted by the recall it adds."""
    a, b = _pair(inside, outside)
    tp, fp = _curve(a, b)
    precision, recall = tp / (tp + fp), tp / len(b)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def fpr_at_tpr(inside: Sequence[float] | np.ndarray, outside: Sequence[float] | np.ndarray, tpr: float = 0.8) -> float:
    """The fraction of in-distribution images flagged at the highest threshold that flags at
    least ``tpr`` of the OOD images."""
    a, b = _pair(inside, outside)
    if not 0 < tpr <= 1:
        raise PixelarError(f"tpr must be in (0, 1], got {tpr}")
    tp, fp = _curve(a, b)
    first = int(np.argmax(tp >= tpr * len(b) - 1e-9))
    return float(fp[first] / len(a))


def roc_curve(
    inside: Sequence[float] | np.ndarray, outside: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates) from (0, 0) to (1, 1), for a figure."""
    a, b = _pair(inside, outside)
    tp, fp = _curve(a, b)
    return np.r_[0.0, fp / len(a)], np.r_[0.0, tp / len(b)]


def detection_metrics(inside: Sequence[float] | np.ndarray, outside: Sequence[float] | np.ndarray) -> dict[str, float]:
    """``{"auroc", "auprc", "fpr80"}`` of one score."""
    return {"auroc": auroc(inside, outside), "auprc": auprc(inside, outside), "fpr80": fpr_at_tpr(inside, outside)}
