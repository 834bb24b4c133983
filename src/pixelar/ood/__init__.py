"""Out-of-distribution and anomaly scores from exact likelihoods: per-image scores
(:func:`score`), detection metrics (:mod:`pixelar.ood.metrics`), and an in-vs-out experiment
with its figure (:func:`ood_experiment`)."""

from pixelar.ood.complexity import COMPLEXITIES, complexity_bits
from pixelar.ood.experiment import OODResult, ood_experiment, save_ood_figure, save_ood_result
from pixelar.ood.metrics import auprc, auroc, detection_metrics, fpr_at_tpr, roc_curve
from pixelar.ood.scores import Scores, estimate_entropy, score, typicality, typicality_threshold

__all__ = [
    "COMPLEXITIES",
    "OODResult",
    "Scores",
    "auprc",
    "auroc",
    "complexity_bits",
    "detection_metrics",
    "estimate_entropy",
    "fpr_at_tpr",
    "ood_experiment",
    "roc_curve",
    "save_ood_figure",
    "save_ood_result",
    "score",
    "typicality",
    "typicality_threshold",
]
