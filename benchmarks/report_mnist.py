"""The standard benchmarks (bench_mnist.py): the test NLL of every contender on full MNIST
(dynamically binarized) and Fashion-MNIST after each training-time budget, trained in one loop,
with the papers' and the peers' converged numbers beside them."""

from __future__ import annotations

from report_base import Doc, Results, captioned, marked, missing

PEERS = ("pg-pixelcnn", "pg-gated-pixelcnn", "pclucas-pixelcnn++")

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
    out: list[str] = []
    for name in DATASETS:
        d = res.docs[name]
        if d:
            ttq = time_to_quality(d)
            out += [*_table(res, name, d), "", *ttq, *([""] if ttq else [])]
    return out or missing("mnist")
