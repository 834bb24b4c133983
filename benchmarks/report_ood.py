"""The out-of-distribution results (bench_ood.py): for each in → out pair, every score's AUROC,
AUPRC and FPR at 80% TPR, the mean bits/dim of both sets, and the papers' figures beside."""

from __future__ import annotations

from report_base import Results, captioned, marked, missing

# The published Fashion-MNIST → MNIST figures (AUROC, AUPRC, FPR80) with their sources. They are
# quoted from the papers as this project knows them; no copy of the papers is reachable from
# this machine, so they are not re-checked against the PDFs here.
PUBLISHED = {
    ("fashion-mnist", "mnist", "likelihood"): (
        "0.089 / 0.320 / 1.000",
        "Ren et al. 2019, PixelCNN++ (quoted; not re-checked against the paper here)",
    ),
    ("fashion-mnist", "mnist", "likelihood ratio"): (
        "0.994 / 0.993 / 0.001",
        "Ren et al. 2019, PixelCNN++ (quoted; not re-checked against the paper here)",
    ),
}
MODELS = {"model": "model", "background": "background (perturbed inputs)"}


def _models(rows: list[dict], inside: str) -> str:
    parts = []
    for r in rows:
        if r["kind"] == "model" and r["in"] == inside:
            if "description" in r:
                what = f"`{r['name']}` ({r['description']}; test {r['test_nll']:.3f} {r['unit']})"
            else:
                what = f"trained here {r['train_minutes']:.0f} min, {r['steps']:,} steps"
            parts.append(f"{MODELS[r['role']]}: {what}")
    return "; ".join(parts)


def _coder(pair: dict) -> str:
    """What the codec's complexity model is, when the pair used one."""
    cfg = pair.get("complexity_model_config")
    if not cfg:
        return ""
    args = ", ".join(f"{k} {v}" for k, v in cfg["model_args"].items())
    data = cfg["data"].rsplit("/", 1)[-1] if cfg["data"].startswith("folder:") else cfg["data"]
    tiles = (
        f" {cfg['image_size']}×{cfg['image_size']} tiles of the photos in {data}" if cfg.get("tiles") else f" {data}"
    )
    return (
        f" Complexity (model): pixelar's codec with a {cfg['model']} ({args}) trained {cfg['steps']:,} steps on grey"
        f"{tiles}, none of them in any pair."
    )


def _backgrounds(pair: dict) -> str:
    """The ablations' background models, each by its recipe."""
    described = []
    for label, cfg in (pair.get("backgrounds") or {}).items():
        if cfg:
            described.append(f"({label}) {_recipe(cfg)}")
    if not described:
        return ""
    return (
        " The likelihood ratio is also shown against other background models, each the model's recipe on "
        f"perturbed inputs: {'; '.join(described)}."
    )


def _recipe(cfg: dict) -> str:
    """A background model's perturbation recipe in a few words."""
    decay = f", {cfg['optimizer']} weight decay {cfg['weight_decay']:g}" if cfg.get("weight_decay") else ""
    clean = ", clean targets" if cfg.get("clean_targets") else ""
    return f"μ = {cfg['perturb']:g}{clean}{decay}, {cfg['max_minutes']:g} minutes"


# How the shipped backgrounds' recipe was chosen (benchmarks/bench_ood.py --pairs ...:letters).
SELECTION = (
    " The shipped backgrounds' recipe was chosen by the likelihood ratio's AUROC on Fashion-MNIST → letters "
    "(rendered letters, `pixelar list datasets`: the validation pair, standing in for Ren et al.'s NotMNIST), "
    "on the first 1,000 test images of each; the in-distribution ones are also in the other pairs."
)


HEADLINE = ("likelihood", "likelihood ratio", "complexity (png)", "complexity (jxl)", "typicality")


def block_ood_headline(res: Results) -> list[str]:
    """The README's: the Fashion-MNIST → MNIST row of each published score, beside the papers'."""
    d = res.docs["ood"]
    if not d:
        return missing("ood")
    pair = next((r for r in d.rows if r["kind"] == "pair" and (r["in"], r["out"]) == ("fashion-mnist", "mnist")), None)
    if pair is None:
        return missing("ood")
    scores = [
        r
        for r in d.rows
        if r["kind"] == "score" and r["in"] == "fashion-mnist" and r["out"] == "mnist" and r["score"] in HEADLINE
    ]
    prov = res.prov("ood", [(d, r) for r in [pair, *scores]])
    caption = (
        f"Fashion-MNIST in, MNIST out ({pair['images']['in']:,} test images each), the shipped `fashion-mnist` and "
        f"`fashion-mnist-background` models: AUROC / AUPRC / FPR at 80% TPR, the OOD images the positive class "
        "(every score, the background ablations and more pairs: [OOD results](docs/results/ood.md)):"
    )
    cells = [
        [
            marked(r["score"], prov, r),
            f"{r['auroc']:.3f} / {r['auprc']:.3f} / {r['fpr80']:.3f}",
            PUBLISHED.get(("fashion-mnist", "mnist", r["score"]), ("", ""))[0],
        ]
        for r in scores
    ]
    header = ["score", "pixelar", "Ren et al. 2019 (quoted; not re-checked here)"]
    return captioned(caption, header, cells, prov)


def block_ood(res: Results) -> list[str]:
    d = res.docs["ood"]
    if not d:
        return missing("ood")
    out: list[str] = []
    shipped = any(r["kind"] == "model" and r["role"] == "background" and "card_commit" in r for r in d.rows)
    letters = any(r["kind"] == "pair" and r["out"] == "letters" for r in d.rows)
    selection = SELECTION if shipped and letters else ""
    for pair in (r for r in d.rows if r["kind"] == "pair"):
        inside, outside = pair["in"], pair["out"]
        scores = [r for r in d.rows if r["kind"] == "score" and r["in"] == inside and r["out"] == outside]
        prov = res.prov("ood", [(d, r) for r in [pair, *scores]])
        bpd = pair["bits_per_dim"]
        caption = (
            f"**{inside} in, {outside} out**: {pair['images']['in']:,} and {pair['images']['out']:,} test images. "
            f"Mean test NLL under the {inside} model: {bpd['in']:.3f} bits/dim on {inside}, {bpd['out']:.3f} on "
            f"{outside}. {_models(d.rows, inside)}.{_coder(pair)}{_backgrounds(pair)}{selection} AUROC, AUPRC and FPR at 80% TPR of "
            "each score, the "
            f"out-of-distribution images the positive class ([figure]({pair['figure']})):"
        )
        cells = []
        for r in scores:
            published, source = PUBLISHED.get((inside, outside, r["score"]), ("", ""))
            cells.append(
                [
                    marked(r["score"], prov, r),
                    f"{r['auroc']:.3f}",
                    f"{r['auprc']:.3f}",
                    f"{r['fpr80']:.3f}",
                    published,
                    source,
                ]
            )
        header = ["score", "AUROC", "AUPRC", "FPR80", "published AUROC / AUPRC / FPR80", "source"]
        out += [*captioned(caption, header, cells, prov), ""]
    return out
