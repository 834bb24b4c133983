"""The standard benchmarks (bench_mnist.py): the test NLL of every contender on full MNIST
(dynamically binarized) and Fashion-MNIST after each training-time budget, trained in one loop,
with the papers' and the peers' converged numbers beside them."""

from __future__ import annotations

from report_base import RESULTS, Doc, Results, captioned, marked, missing

# Each peer network and the converged number its authors publish (a PUBLISHED row of bench_mnist.py).
PEERS = {
    "pg-pixelcnn": "pytorch-generative PixelCNN",
    "pg-gated-pixelcnn": "pytorch-generative Gated PixelCNN",
    "pclucas-pixelcnn++": "",
}
PAGE = "docs/results/standard.md"

DATASETS = {"mnist": "dynamically binarized MNIST (nats/image)", "fashion_mnist": "8-bit Fashion-MNIST (bits/dim)"}


def _table(res: Results, name: str, d: Doc) -> list[str]:
    measured = [r for r in d.rows if r["kind"] != "published"]
    published = [r for r in d.rows if r["kind"] == "published"]
    prov = res.prov(name, [(d, r) for r in measured])
    budgets = sorted({b for r in measured for b in r["nll_at_minutes"]}, key=float)
    threads = d.config.get("torch_threads", "?")
    images = sorted({r["test_images"] for r in measured})
    caption = (
        f"{DATASETS[name][0].upper()}{DATASETS[name][1:]}: test NLL over {' / '.join(f'{n:,}' for n in images)} test images after each "
        f"training budget (minutes of training steps, evaluation excluded; {threads} torch thread(s) on this "
        "machine), every contender trained in one loop on the same seeded batches; the published numbers are "
        "converged runs on GPUs, beside them:"
    )
    header = ["contender", "parameters", *(f"{float(b):g} min" for b in budgets), "converged (published)", "note"]
    cells = [
        [
            marked(r["contender"], prov, r),
            f"{r['parameters']:,}",
            *(f"{r['nll_at_minutes'][b]:.2f}" if b in r["nll_at_minutes"] else "" for b in budgets),
            "",
            r["note"],
        ]
        for r in measured
    ]
    cells += [[r["contender"], "", *("" for _ in budgets), f"{r['nll']:.2f}", r["source"]] for r in published]
    return captioned(caption, header, cells, prov)


def reached(curve: list[list[float]], level: float) -> float | None:
    """The training minutes at which a learning curve first reaches ``level`` (interpolated
    between its points; None if it never does)."""
    last_t, last_v = 0.0, float("inf")
    for t, v in curve:
        if v <= level:
            if last_v == float("inf"):
                return t
            return last_t + (t - last_t) * (last_v - level) / (last_v - v)
        last_t, last_v = t, v
    return None


def time_to_quality(d: Doc) -> list[str]:
    """For each peer and each pixelar contender measured in the same run: how soon the contender
    reaches the NLL that the peer has at the end of its curve (both on the curve's test images)."""
    lines: list[str] = []
    measured = [r for r in d.rows if r["kind"] != "published" and r.get("curve")]
    for peer in (r for r in measured if r["kind"] in PEERS):
        minutes, level = peer["curve"][-1]
        for r in measured:
            if r["kind"] != "pixelar" or r["run"] != peer["run"]:
                continue
            t = reached(r["curve"], level)
            if t is None:
                when = f"not within {r['curve'][-1][0]:.0f} minutes"
            elif t == r["curve"][0][0]:
                when = f"by its curve's first point, {t:.1f} minutes: at least {minutes / t:.1f}× sooner"
            else:
                when = f"in {t:.1f} minutes: {minutes / t:.1f}× sooner"
            lines.append(
                f"- {r['contender']} reached {peer['contender']}'s NLL after {minutes:.0f} minutes "
                f"({level:.2f} {r['unit']}) {when}."
            )
    if lines:
        images = d.config.get("curve_images", "?")
        lines.insert(0, f"Time to quality, in the same run (the learning curves, on the first {images:,} test images):")
    return lines


def block_standard(res: Results) -> list[str]:
    """The standard benchmarks' page: every contender, the time to quality, the learning curves."""
    out: list[str] = []
    for name in DATASETS:
        d = res.docs[name]
        if d:
            ttq = time_to_quality(d)
            out += [*_table(res, name, d), "", *ttq, *([""] if ttq else [])]
            if (RESULTS / f"{name}_curves.png").exists():
                out += [f"![test NLL against training time](benchmarks/results/{name}_curves.png)", ""]
    return out or missing("mnist")


def block_standard_headline(res: Results) -> list[str]:
    """The README's: on full MNIST, pixelar's best contender at its longest budget, each peer in
    the same loop, and the best published number; then the time to quality."""
    d = res.docs["mnist"]
    if not d:
        return missing("mnist")
    measured = [r for r in d.rows if r["kind"] != "published"]
    budgets = sorted({b for r in measured for b in r["nll_at_minutes"]}, key=float)
    ours = [r for r in measured if r["kind"] == "pixelar" and budgets[-1] in r["nll_at_minutes"]]
    best = min(ours, key=lambda r: r["nll_at_minutes"][budgets[-1]], default=None)
    rows = [r for r in measured if r is best or r["kind"] in PEERS]
    published = {r["contender"]: r for r in d.rows if r["kind"] == "published"}
    paper = min((r for r in published.values() if not r["contender"].startswith("pytorch")), key=lambda r: r["nll"])
    prov = res.prov("mnist", [(d, r) for r in rows])
    threads = d.config.get("torch_threads", "?")
    caption = (
        f"Full MNIST, dynamically binarized: test NLL in nats over the 10,000 test images after each training budget "
        f"({threads} torch thread(s) each, every contender trained in one loop on the same seeded batches), pixelar's best beside the peers' "
        f"networks and the published converged numbers (every model, Fashion-MNIST and the learning curves: "
        f"[standard benchmarks]({PAGE})):"
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
    cells.append([f"{paper['contender']} ({paper['source']})", *("" for _ in budgets), f"{paper['nll']:.2f}"])
    ttq = time_to_quality(d)
    return [*captioned(caption, header, cells, prov), *([""] if ttq else []), *ttq]
