"""The orders results (bench_orders.py): one locally masked PixelCNN trained over 8 orders
against a raster PixelCNN — the whole-image NLL in each order and of the ensemble, the NLL of a
completion's hidden region, the completions side by side — and the paper's own figures."""

from __future__ import annotations

from report_base import Doc, Results, marked, missing, setting, sig, table

PAPER_SOURCE = "https://github.com/ajayjain/lmconv"
# The paper's own figures as its authors state them in their code's README (PAPER_SOURCE); the
# abstract rounds the CIFAR-10 ensemble to 2.89 bits/dim.
PAPER = [
    ("binarized MNIST", "8 S-curve orders, ensemble", "77.56 nats/image"),
    ("CIFAR-10", "one order", "2.909 bits/dim"),
    ("CIFAR-10", "8 S-curve orders, ensemble", "2.887 bits/dim"),
    ("CIFAR-10", "top half hidden, 2 orders: NLL of the hidden half given the rest", "2.762 bits/dim"),
]
HOW = ("raster only", "own order", "moved first", "known first")


def nll_rows(d: Doc) -> tuple[dict | None, list[dict], dict | None, dict | None]:
    """The raster model's raster row; the agnostic model's rows in its training orders, in
    raster order (not one of them) and of its ensemble."""
    raster = next((r for r in d.rows if r["kind"] == "order" and r["model"] == "pixelcnn"), None)
    agnostic = [r for r in d.rows if r["kind"] == "order" and r["model"] == "lmconv" and r["trained_in_order"]]
    untrained = next(
        (r for r in d.rows if r["kind"] == "order" and r["model"] == "lmconv" and r["order"] == "raster"), None
    )
    ensemble = next((r for r in d.rows if r["kind"] == "ensemble"), None)
    return raster, agnostic, untrained, ensemble


def completions(d: Doc) -> dict[str, dict[str, dict]]:
    """The completion rows by mask, then by how the model completes (:data:`HOW`)."""
    out: dict[str, dict[str, dict]] = {}
    for r in d.rows:
        if r["kind"] == "completion":
            out.setdefault(r["mask"], {})[r["how"]] = r
    return out


def _below(better: float, worse: float) -> str:
    """How far ``better`` lies below ``worse`` (nats), or above it."""
    return f"{worse - better:.2f} below" if better <= worse else f"{better - worse:.2f} above"


def _nll(r: dict) -> str:
    order = f", {r['order']}" if r["model"] == "lmconv" and r["how"] == "known first" else ""
    return f"{r['nats']:.2f}" + (f" (exact{order})" if r.get("exact") else "")


def _ensemble_gain(d: Doc) -> tuple[dict, dict, dict, dict] | None:
    raster, agnostic, _, ensemble = nll_rows(d)
    if not (raster and agnostic and ensemble):
        return None
    return raster, min(agnostic, key=lambda r: r["nats"]), agnostic[0], ensemble


def _setup(d: Doc) -> str:
    return (
        f"{setting(d, 'num_layers')}×{setting(d, 'hidden_channels')}, {setting(d, 'steps')} steps each at batch 32 "
        f"(Adam 1e-3, seed 0)"
    )


def block_orders(res: Results) -> list[str]:
    d = res.docs["orders"]
    if not d:
        return missing("orders")
    prov = res.prov("orders", [(d, r) for r in d.rows])
    raster, agnostic, untrained, ensemble = nll_rows(d)
    images = d.rows[0]["images"] if d.rows else "?"
    caption = (
        f"A raster PixelCNN (`pixelcnn`) and the same network with locally masked convolutions (`lmconv`) trained "
        f"over the paper's 8 S-curve orders (one drawn per batch), {_setup(d)}, on the bundled binarized digits. "
        f"Exact test NLL over the {images} test digits; every `lmconv` row is the same weights:"
    )
    cells = []
    for r in [raster, *agnostic, untrained, ensemble]:
        if r is None:
            continue
        if r["kind"] == "ensemble":
            where = f"**{r['order']}** (log-mean-exp of their likelihoods)"
        elif r is untrained:
            where = "raster (not one of its orders)"
        else:
            where = r["order"] + (" (its default)" if r is agnostic[0] else "")
        trained_in = "raster" if r["model"] == "pixelcnn" else f"{len(r['training_orders'])} S-curves"
        cells.append([marked(r["model"], prov, r), trained_in, where, f"{r['nats']:.2f}", f"{r['bits_per_dim']:.4f}"])
    out = [caption, "", *table(["model", "trained in", "evaluated in", "test NLL (nats/image)", "bits/dim"], cells), ""]
    gain = _ensemble_gain(d)
    if gain:
        base, best, default, ens = gain
        out += [
            f"The {ens['order']}: {ens['nats']:.2f} nats/image, {_below(ens['nats'], best['nats'])} the model's best "
            f"single order ({best['order']}, {best['nats']:.2f}) and {_below(ens['nats'], default['nats'])} its default "
            f"order; the raster-only model after the same steps: {base['nats']:.2f}.",
            "",
        ]
    out += _completion_table(d) + _paper_table() + prov.lines
    return out


def _completion_table(d: Doc) -> list[str]:
    rows = completions(d)
    if not rows:
        return []
    caption = (
        "Completion: the NLL of the hidden region of each test digit (nats/image, the digit's own pixels there) "
        "under the distribution each model draws completions from (normalised over the hidden region, so the "
        "columns compare). *raster*: the raster PixelCNN's only option, each hidden sub-pixel given the sub-pixels "
        "before it in raster order, known or hidden — the sum of those raster conditionals over the hidden "
        "sub-pixels, what its completions are drawn from; exact only where every known pixel comes first (with the "
        "bottom half known it is −log p(top), the bottom never entering). The same `lmconv` weights: *own order*, "
        "its default order as it is; *moved first*, that order with the known pixels moved to the front (exact, but "
        "an order it was not trained in); *known first*, the order `pixelar complete` uses (`completion_order`): one "
        "of its training orders that visits every known pixel first where there is one, else the moved one — the "
        "exact −log p(hidden | known) in an order it learnt where it can:"
    )
    header = ["known pixels", "hidden sub-pixels", "raster pixelcnn", "lmconv, own order", "lmconv, moved first"]
    header += ["lmconv, known first"]
    cells = []
    for mask, by in rows.items():
        any_row = next(iter(by.values()))
        cells.append([mask, str(any_row["hidden_subpixels"]), *(_nll(by[h]) if h in by else "n/a" for h in HOW)])
    out = [caption, "", *table(header, cells), ""]
    picture = next((r.get("picture") for r in d.rows if r.get("picture")), None)
    if picture:
        out += [
            f"![Completions of test digits by the raster PixelCNN and by lmconv with the known pixels first]({picture})",
            "",
            "*Test digits with the bottom half and the left half known: the input (hidden part grey), completions "
            "by the raster PixelCNN, completions by `lmconv` with the known pixels first, the original.*",
            "",
        ]
    return out


def _paper_table() -> list[str]:
    caption = (
        f"The paper's own figures (Jain, Abbeel & Pathak, UAI 2020, as their code's README states them: "
        f"[{PAPER_SOURCE.removeprefix('https://')}]({PAPER_SOURCE}); the abstract rounds the CIFAR-10 ensemble to "
        f"2.89 bits/dim): a PixelCNN++ with locally masked convolutions, on the standard binarized MNIST and "
        f"CIFAR-10, not on the bundled digits — a direction to compare with, not a value:"
    )
    return [caption, "", *table(["data", "what", "their result"], [list(row) for row in PAPER]), ""]


def claim_orders(res: Results) -> str | None:
    d = res.docs["orders"]
    gain = _ensemble_gain(d) if d else None
    if not d or not gain:
        return None
    base, best, _, ens = gain
    groups: dict[str, list[str]] = {"wins": [], "both exact": [], "moved": [], "trained": []}
    for mask, by in completions(d).items():
        if "raster only" in by and "known first" in by:
            ours, theirs = by["known first"], by["raster only"]
            diff = theirs["nats"] - ours["nats"]
            kind = "wins" if diff > 0 else "both exact" if theirs["exact"] else "trained"
            kind = "moved" if kind == "trained" and ours["order"].startswith("known-first") else kind
            groups[kind].append(f"{mask} ({sig(abs(diff), 2)})")
    text = (
        f"**Orders** ({setting(d, 'num_layers')}×{setting(d, 'hidden_channels')}, {setting(d, 'steps')} steps each): "
        f"one `lmconv` network's {ens['order']} scores {ens['nats']:.2f} nats on the test digits, "
        f"{_below(ens['nats'], best['nats'])} its best single order; the raster-only model at the same budget: "
        f"{base['nats']:.2f}."
    )
    parts = [
        ("wins", "Completing with the known pixels first beats the raster model's completion NLL on {} nats"),
        ("both exact", "the raster model is better where it sees every known pixel too: {}"),
        ("trained", "it is better on {} although lmconv completed in a training order"),
        ("moved", "and where no training order takes the known pixels first, on {}"),
    ]
    said = [template.format(", ".join(groups[kind])) for kind, template in parts if groups[kind]]
    return text + (" " + "; ".join(said) + "." if said else "")
