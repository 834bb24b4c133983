"""The standard benchmarks (bench_mnist.py): the test NLL of every contender on full MNIST
(dynamically binarized) and Fashion-MNIST after each training-time budget, trained in one loop,
with the papers' and the peers' converged numbers beside them."""

from __future__ import annotations

import json

from report_base import RESULTS, ROOT, Doc, Results, captioned, marked, missing

# Each peer network and the converged number its authors publish (a PUBLISHED row of bench_mnist.py).
PEERS = {
    "pg-pixelcnn": "pytorch-generative PixelCNN",
    "pg-gated-pixelcnn": "pytorch-generative Gated PixelCNN",
    "pclucas-pixelcnn++": "",
}
PAGE = "docs/results/standard.md"
SHIPPED = ROOT / "src" / "pixelar" / "pretrained" / "mnist-binary" / "card.json"  # the model `pixelar` ships for MNIST

DATASETS = {"mnist": "dynamically binarized MNIST (nats/image)", "fashion_mnist": "8-bit Fashion-MNIST (bits/dim)"}


def nll(value: float, unit: str) -> str:
    """A test NLL as the tables print it: nats per image to 2 decimals, bits per dimension to 3."""
    return f"{value:.2f}" if unit == "nats" else f"{value:.3f}"


def _table(res: Results, name: str, d: Doc) -> list[str]:
    measured = [r for r in d.rows if r["kind"] != "published"]
    published = [r for r in d.rows if r["kind"] == "published"]
    prov = res.prov(name, [(d, r) for r in measured], merged=True)
    budgets = sorted({b for r in measured for b in r["nll_at_minutes"]}, key=float)
    threads = d.config.get("torch_threads", "?")
    images = sorted({r["test_images"] for r in measured})
    caption = (
        f"{DATASETS[name][0].upper()}{DATASETS[name][1:]}: test NLL over {' / '.join(f'{n:,}' for n in images)} test images after each "
        f"training budget (minutes of training steps, evaluation excluded; {threads} torch thread(s) on this "
        "machine), every contender trained by one loop on the same seeded sampler"
        + ("; the published numbers are converged runs on GPUs, beside them:" if published else ":")
    )
    paper = ["converged (published)"] if published else []
    header = ["contender", "parameters", *(f"{float(b):g} min" for b in budgets), *paper, "note"]
    cells = [
        [
            marked(r["contender"], prov, r),
            f"{r['parameters']:,}",
            *(nll(r["nll_at_minutes"][b], r["unit"]) if b in r["nll_at_minutes"] else "" for b in budgets),
            *("" for _ in paper),
            r["note"],
        ]
        for r in measured
    ]
    cells += [[r["contender"], "", *("" for _ in budgets), f"{r['nll']:.2f}", r["source"]] for r in published]
    return captioned(caption, header, cells, prov)


def reached(curve: list[list[float]], level: float) -> tuple[float, bool] | None:
    """The training minutes at which a learning curve first reaches ``level`` (interpolated
    between its points; None if it never does), and whether that is its first point (then an
    upper bound: the curve has no point before it)."""
    last: list[float] | None = None
    for t, v in curve:
        if v <= level:
            if last is None:
                return t, True
            return last[0] + (t - last[0]) * (last[1] - level) / (last[1] - v), False
        last = [t, v]
    return None


def _sooner(r: dict, peer: dict) -> str:
    """How soon pixelar's contender ``r`` reaches the NLL that ``peer`` ends with: on the learning
    curves, and on the whole test split at the budgets."""
    minutes, level = peer["curve"][-1]
    peer_t = (reached(peer["curve"], level) or (minutes, False))[0]  # when the peer first got there
    hit = reached(r["curve"], level)
    unit = r["unit"]
    text = f"- {peer['contender']} ends its curve at {nll(level, unit)} {unit} (first reached after {peer_t:.1f} min); "
    if hit is None:
        text += f"{r['contender']} did not reach it within {r['curve'][-1][0]:g} min"
    elif hit[1]:
        text += f"{r['contender']} was below it at its first point, {hit[0]:.1f} min (≥ {peer_t / hit[0]:.1f}× sooner)"
    else:
        text += f"{r['contender']} reached it after about {hit[0]:.1f} min ({peer_t / hit[0]:.1f}× sooner)"
    budgets = sorted(peer["nll_at_minutes"], key=float)
    if budgets:
        last = budgets[-1]
        target = peer["nll_at_minutes"][last]
        ours = [b for b in sorted(r["nll_at_minutes"], key=float) if r["nll_at_minutes"][b] <= target]
        text += f". On the whole test split {peer['contender']} has {nll(target, unit)} after {float(last):g} min; "
        if ours:
            ratio = float(last) / float(ours[0])
            text += f"{r['contender']} had {nll(r['nll_at_minutes'][ours[0]], unit)} after {float(ours[0]):g} min"
            text += f" (≥ {ratio:.1f}× sooner)" if ratio > 1 else ""
        else:
            text += f"{r['contender']} did not get there at any budget"
    return text + "."


def time_to_quality(d: Doc, contenders: list[dict] | None = None) -> list[str]:
    """For each peer and each of pixelar's ``contenders`` (default: all) measured in the same run,
    how soon the contender reaches the NLL the peer ends with."""
    measured = [r for r in d.rows if r["kind"] != "published" and r.get("curve")]
    ours = [r for r in (contenders or measured) if r["kind"] == "pixelar" and r.get("curve")]
    lines = [
        _sooner(r, peer) for peer in measured if peer["kind"] in PEERS for r in ours if r.get("run") == peer.get("run")
    ]
    images = d.config.get("curve_images")
    if lines and images:
        lines.insert(
            0,
            f"Time to quality, within one run (learning curves on the first {images:,} test images, every {d.config.get('curve_minutes', '?')} min):",
        )
    return lines if images else []


def block_standard(res: Results) -> list[str]:
    """The standard benchmarks' page: every contender, the time to quality, the learning curves."""
    out: list[str] = []
    for name in DATASETS:
        d = res.docs[name]
        if not d:
            out += [*missing(name), ""]
            continue
        ttq = time_to_quality(d)
        out += [*_table(res, name, d), "", *ttq, *([""] if ttq else [])]
        if (RESULTS / f"{name}_curves.png").exists():
            out += [f"![test NLL against training time](benchmarks/results/{name}_curves.png)", ""]
    return out


def block_standard_headline(res: Results) -> list[str]:
    """The README's: on full MNIST, pixelar's best contender at the longest budget, each peer of
    the same results, and the best published number; then the best one's time to quality."""
    d = res.docs["mnist"]
    measured = [r for r in d.rows if r["kind"] != "published"] if d else []
    if not d or not measured:
        return missing("mnist")
    budgets = sorted({b for r in measured for b in r["nll_at_minutes"]}, key=float)
    ours = [r for r in measured if r["kind"] == "pixelar" and budgets[-1] in r["nll_at_minutes"]]
    best = min(ours, key=lambda r: r["nll_at_minutes"][budgets[-1]], default=None)
    rows = [r for r in measured if r is best or r["kind"] in PEERS]
    published = {r["contender"]: r for r in d.rows if r["kind"] == "published"}
    papers = [r for r in published.values() if r["contender"] not in PEERS.values()]
    prov = res.prov("mnist", [(d, r) for r in rows], merged=True)
    images = sorted({r["test_images"] for r in rows})
    more = ["every model"] + (["Fashion-MNIST"] if res.docs["fashion_mnist"] else [])
    more += ["the learning curves"] if (RESULTS / "mnist_curves.png").exists() else []
    caption = (
        f"Full MNIST, dynamically binarized: test NLL in nats over {' / '.join(f'{n:,}' for n in images)} test images "
        f"after each training budget (minutes of training steps, evaluation excluded; "
        f"{d.config.get('torch_threads', '?')} torch thread(s) per contender), "
        f"{'pixelar' + chr(39) + 's best beside ' if best else ''}the peers' networks in the same loop and the published "
        f"converged numbers ({', '.join(more)}: [standard benchmarks]({PAGE})):"
    )
    header = ["contender", *(f"{float(b):g} min" for b in budgets), "converged (published, GPU)"]
    cells = [
        [
            marked(r["contender"], prov, r) + ("" if r["kind"] == "pixelar" else f" ({r['note'].split(',')[0]})"),
            *(f"{r['nll_at_minutes'][b]:.2f}" if b in r["nll_at_minutes"] else "" for b in budgets),
            f"{published[PEERS[r['kind']]]['nll']:.2f}" if PEERS.get(r["kind"]) in published else "",
        ]
        for r in rows
    ]
    if papers:
        paper = min(papers, key=lambda r: r["nll"])
        cells.append([f"{paper['contender']} ({paper['source']})", *("" for _ in budgets), f"{paper['nll']:.2f}"])
    ttq = time_to_quality(d, [best] if best else [])
    return [*captioned(caption, header, cells, prov), *([""] if ttq else []), *ttq, *shipped()]


def shipped() -> list[str]:
    """The shipped binarized-MNIST model's card, in a sentence (its own recipe, threads and commit)."""
    if not SHIPPED.exists():
        return []
    card = json.loads(SHIPPED.read_text())
    return [
        "",
        f"The shipped `{card['name']}` ({card['description']}; `{card['recipe']}` at commit `{card['commit'][:7]}`): "
        f"**{card['test_nll']:.2f} {card['unit']}** over the {card['images']:,} test images (its model card).",
    ]
