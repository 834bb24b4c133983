"""The standard benchmarks (bench_mnist.py): the test NLL of every contender on full MNIST
(dynamically binarized) and Fashion-MNIST after each training-time budget, trained in one loop,
with the papers' and the peers' converged numbers beside them."""

from __future__ import annotations

from report_base import Doc, Results, captioned, marked, missing

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


def block_standard(res: Results) -> list[str]:
    out: list[str] = []
    for name in DATASETS:
        d = res.docs[name]
        out += [*_table(res, name, d), ""] if d else []
    return out or missing("mnist")
