"""Out-of-distribution detection with exact likelihoods: the published Fashion-MNIST → MNIST row.

    python benchmarks/bench_ood.py --threads 1 [--pairs fashion-mnist:mnist,fashion-mnist:letters,fashion-mnist:photos,mnist:fashion-mnist]
        [--train MINUTES] [--complexity-model RUN] [--backgrounds LABEL=RUN,...] [--count N] [--reference N]

For each pair IN:OUT the in-distribution model (trained on IN's training split) scores the whole
test split of IN and of OUT (``--count`` caps both) with every score of pixelar.ood:

* the likelihood (Nalisnick et al. 2019: on Fashion-MNIST → MNIST it ranks MNIST *above* the
  model's own test images);
* the likelihood ratio against the background model (Ren et al. 2019), trained by the same recipe
  on inputs perturbed at rate μ (the ``IN-background`` preset: μ = 0.7, predicting the clean images,
  chosen on the validation pair fashion-mnist:letters);
* the complexity-corrected score (Serrà et al. 2020) with PNG, JPEG XL and, given
  ``--complexity-model RUN``, pixelar's codec with that model: a general-purpose one, e.g. a small
  PixelCNN++ trained on grey 28×28 tiles of photos no pair uses (the libjxl-testdata photos:
  ``apt-get download libjxl-testdata``), its train_config recorded with the results;
* typicality with M = 1 and on batches of ``--typicality-batch`` M test images (Nalisnick et al.
  2019b), the entropy estimated on ``--reference`` training images of IN;
* with ``--backgrounds``, the likelihood ratio against each of more background models (ablations).

It reports AUROC, AUPRC and FPR at 80% TPR (OOD the positive class) for each, the mean bits/dim
of both sets, and draws each pair's histograms and ROC curves (benchmarks/results/ood_IN_OUT.png).

The models: by default the shipped ``IN`` and ``IN-background``
(`pixelar list pretrained`: each trained by `pixelar train --preset ...`, its card says for how
long); with ``--train MINUTES`` the same presets are trained here for MINUTES each (cached in
runs/ by configuration; one after the other). OUT "photos" is the bundled photos (photos32's test
crops) in grey levels, centre-cropped to 28×28. The data: `make data` (MNIST, Fashion-MNIST).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

import harness
import pixelar
from pixelar.data import get_dataset
from pixelar.data.base import ImageDataset
from pixelar.evaluation import log_probs
from pixelar.ood import detection_metrics, ood_experiment, save_ood_figure
from pixelar.presets import get_preset
from pixelar.pretrained import card_of

PRESETS = {"fashion-mnist": "fashion-mnist-fast", "mnist": "mnist-8bit-fast"}  # IN -> its model's preset


def photos() -> ImageDataset:
    """The bundled photos' test crops (photos32) as grey 28×28 images: ITU-R 601 luma, the centre."""
    rgb = get_dataset("photos32", "test").images.double()
    grey = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).round().clamp(0, 255).to(torch.uint8)
    return ImageDataset(grey[:, None, 2:30, 2:30].contiguous(), None, 256, "photos/test")


def out_set(name: str, count: int) -> ImageDataset:
    data = photos() if name == "photos" else get_dataset(name, "test", download=False)
    return data.subset(count)


def complexity_config(run: str | None) -> dict | None:
    """The training configuration of a model given as a run directory (else None)."""
    path = Path(run or "") / "train_config.json"
    return json.loads(path.read_text()) if run and path.is_file() else None


def trained(
    inside: str, a
) -> tuple[pixelar.models.AutoregressiveModel, pixelar.models.AutoregressiveModel, list[dict]]:
    """The model and the background of ``inside``, with a row describing each."""
    models, rows = [], []
    for role, suffix in (("model", ""), ("background", "-background")):
        if a.train is None:
            name = f"{inside}{suffix}"
            card = card_of(name)
            if card is None:
                raise SystemExit(f"error: no pretrained model {name}; pass --train MINUTES to train it here")
            models.append(pixelar.load(name))
            rows.append(
                {
                    "kind": "model",
                    "in": inside,
                    "role": role,
                    "name": name,
                    "test_nll": card["test_nll"],
                    "unit": card["unit"],
                    "description": card["description"],
                    "recipe": card["recipe"],
                    "card_commit": card["commit"],
                }
            )
            continue
        preset = get_preset(PRESETS[inside].replace("-fast", "-background") if suffix else PRESETS[inside])
        settings = {k: v for k, v in preset.items() if k not in ("steps", "max_minutes", "eval_every", "eval_images")}
        cfg = harness.budget_config(
            settings.pop("model"), settings.pop("model_args"), settings.pop("data"), a.train, **settings
        )
        run = harness.train_for_budget(cfg, a, f"ood-{role}")
        models.append(run.model)
        rows.append({"kind": "model", "in": inside, "role": role, "name": str(run.run_dir), **run.row_fields()})
    return models[0], models[1], rows


def main() -> None:
    p = harness.parser(__doc__, "ood")
    p.add_argument(
        "--pairs", default="fashion-mnist:mnist,fashion-mnist:letters,fashion-mnist:photos,mnist:fashion-mnist"
    )
    p.add_argument("--typicality-batch", type=int, default=10, metavar="M", help="also the typicality test on batches")
    p.add_argument("--train", type=float, default=None, metavar="MINUTES", help="train the models here instead")
    p.add_argument("--complexity-model", default=None, help="a model for the codec's complexity (any size)")
    p.add_argument(
        "--backgrounds",
        default="",
        metavar="LABEL=RUN,...",
        help="more background models: a likelihood-ratio row 'likelihood ratio (LABEL)' for each (ablations) in "
        "the pairs whose IN the background was trained on",
    )
    p.add_argument("--count", type=int, default=0, help="test images of each set (0: all)")
    p.add_argument("--reference", type=int, default=2000, help="training images that estimate the entropy")
    a = harness.parse(p, "ood", {"count": 200, "reference": 200, "pairs": "fashion-mnist:mnist", "train": 0.2})
    coder = None if a.complexity_model is None else pixelar.load(a.complexity_model)
    complexity = ["png", "jxl"] + (["model"] if coder is not None else [])
    extra_runs = dict(item.split("=", 1) for item in harness.each(a.backgrounds))
    extra = {label: pixelar.load(run) for label, run in extra_runs.items()}
    extra_data = {
        label: (complexity_config(run) or card_of(run) or {}).get("data") for label, run in extra_runs.items()
    }
    in_ratios: dict[tuple[str, str], torch.Tensor] = {}  # (label, IN): the in-set's log p_B, scored once
    rows: list[dict] = []
    cache: dict[str, tuple] = {}
    for pair in harness.each(a.pairs):
        inside, outside = pair.split(":")
        if inside not in cache:
            cache[inside] = trained(inside, a)
            rows += cache[inside][2]
        model, background, _ = cache[inside]
        ours = {label: other for label, other in extra.items() if extra_data[label] in (None, inside)}
        in_set = get_dataset(inside, "test", download=False).subset(a.count)
        reference = get_dataset(inside, "train", download=False).subset(a.reference)
        outside_set = out_set(outside, a.count)
        with harness.Timer() as t:
            result = ood_experiment(
                model,
                in_set,
                outside_set,
                background=background,
                complexity=complexity,
                complexity_model=coder,
                reference=reference,
                names=(inside, outside),
                typicality_batch=a.typicality_batch,
            )
        figure = Path(a.out).parent / f"ood_{inside}_{outside}.png".replace("-", "_")
        save_ood_figure(result, figure)
        summary = result.to_json()
        row = {
            "kind": "pair",
            "in": inside,
            "out": outside,
            "images": summary["images"],
            "bits_per_dim": summary["bits_per_dim"],
            "entropy_nats": summary["entropy_nats"],
            "complexity_model": a.complexity_model,
            "complexity_model_config": complexity_config(a.complexity_model),
            "backgrounds": {label: complexity_config(extra_runs[label]) for label in ours},
            "figure": harness.relative(figure),
            "seconds": round(t.seconds, 1),
        }
        harness.emit(row)
        rows.append(row)
        for label, other in ours.items():  # the ablations: the same model against other backgrounds of IN
            if (label, inside) not in in_ratios:
                in_ratios[label, inside] = log_probs(other, in_set.images)
            ratios = [
                -(-scores.nll - log_p).numpy()
                for scores, log_p in (
                    (result.scores_in, in_ratios[label, inside]),
                    (result.scores_out, log_probs(other, outside_set.images)),
                )
            ]
            result.metrics[f"likelihood ratio ({label})"] = detection_metrics(*ratios)
        for name, metrics in result.metrics.items():
            rows.append({"kind": "score", "in": inside, "out": outside, "score": name, **metrics})
            harness.emit(rows[-1])
        harness.write_results(a.out, "ood", rows, ("kind", "in", "out", "role", "score"), a)
    harness.show(a.out, "ood")


if __name__ == "__main__":
    main()
