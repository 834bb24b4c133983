"""The README's one results table: a handful of headline rows, each taken from the same results
files as the full tables of the documentation's results pages, with where each was measured."""

from __future__ import annotations

from report_base import CODECS, Doc, Provenance, Results, marked, sig, span, table, times
from report_codec import codec_rows, model_label
from report_orders import completions, nll_rows


def _size(args: dict) -> str:
    return f"{args.get('num_layers', '?')}×{args.get('hidden_channels', '?')}"


def _demo(res: Results) -> tuple[list[list[str]], Provenance | None]:
    d = res.docs["demo"]
    if not d or not d.rows:
        return [], None
    prov = res.prov("demo", [(d, r) for r in d.rows])
    preset = d.config.get("preset", {})
    nll = span([r["nats_per_image"] for r in d.rows], lambda v: f"{v:.2f}")
    minutes = span([r["minutes"] for r in d.rows], lambda v: sig(v, 2))
    what = (
        f"`make demo`: {preset.get('model', '?')} {_size(preset.get('model_args', {}))}, "
        f"{preset.get('steps', '?')} steps on the bundled binarized digits: test NLL"
    )
    row = [marked(what, prov, d.rows[0]), f"**{nll} nats/image**", f"{minutes} min to train"]
    return [row], prov


def _sampling(res: Results) -> tuple[list[list[str]], Provenance | None]:
    d = res.docs["sampling"]
    if not d:
        return [], None
    timing = [r for r in d.rows if r.get("kind") == "timing" and r["size"] == "32x32x3"]
    if not timing:
        return [], None
    batch = max(r["batch"] for r in timing)
    rows = [r for r in timing if r["batch"] == batch]
    prov = res.prov("sampling", [(d, r) for r in rows])
    what = (
        f"Fast against naive sampling, {batch} images of 32×32×3, every model at "
        f"{_size({k: d.config.get(k) for k in ('num_layers', 'hidden_channels')})}"
    )
    best = max(rows, key=lambda r: r["speedup"])
    detail = f"{best['model']}: {sig(best['fast_s'])} s instead of {sig(best['naive_s'])} s"
    return [[marked(what, prov, best), f"**{span([r['speedup'] for r in rows], times)} faster**", detail]], prov


def _compiled(res: Results) -> tuple[list[list[str]], Provenance | None]:
    d = res.docs["compiled_sampling"]
    rows = [r for r in d.rows if r["model"] == "pixelcnn" and r["batch"] == 1] if d else []
    if not d or not rows:
        return [], None
    r = rows[0]
    prov = res.prov("compiled_sampling", [(d, r)])
    what = f'Compiled sampling (`method="compiled"`), pixelcnn {_size(r.get("args", {}))}, one 32×32×3 image'
    cells = [marked(what, prov, r), f"**{r['compiled_over_forward']:.1f}× one forward pass**"]
    return [[*cells, f"{r['compiled_speedup']:.2f}× faster than the fast sampler"]], prov


def _codec(res: Results) -> tuple[list[list[str]], Provenance | None]:
    d: Doc | None = res.docs["codec"]
    if not d or not d.rows:
        return [], None
    rows = codec_rows(d)
    prov = res.prov("codec", [(d, r) for r in rows])
    cells = []
    for r in rows:
        for label, ours, theirs in (
            ("the whole test set in one file", "model_codec_whole_set_bpd", "whole set"),
            ("one file per test image", "model_codec_per_image_file_bpd", "per image"),
        ):
            classical = {c: r[f"{c} {theirs}"] for c in CODECS if r.get(f"{c} {theirs}") is not None}
            if r.get(ours) is None or not classical:
                continue
            best = min(classical, key=classical.__getitem__)
            what = f"Lossless codec, {r['data']} ({model_label(r)}), {label}"
            tiled = ", the set tiled" if theirs == "whole set" else ""
            compared = f"best classical codec{tiled}: {best}, {classical[best]:.3f} bits/dim"
            cells.append([marked(what, prov, r), f"**{r[ours]:.3f} bits/dim**", compared])
    return cells, prov


def _orders(res: Results) -> tuple[list[list[str]], Provenance | None]:
    d = res.docs["orders"]
    if not d or not d.rows:
        return [], None
    raster, agnostic, _, ensemble = nll_rows(d)
    bottom = completions(d).get("bottom-half-known", {})
    if not (raster and agnostic and ensemble and "known first" in bottom and "raster only" in bottom):
        return [], None
    prov = res.prov("orders", [(d, r) for r in d.rows])
    best = min(agnostic, key=lambda r: r["nats"])
    what = (
        f"Order ensemble, lmconv {_size(d.config)} over {len(agnostic)} orders, {d.config.get('steps', '?')} steps "
        f"on the bundled binarized digits: test NLL"
    )
    detail = (
        f"best single order {best['nats']:.2f}; top half given the bottom: {bottom['known first']['nats']:.1f} nats "
        f"(known pixels first) against the raster pixelcnn's {bottom['raster only']['nats']:.1f}"
    )
    return [[marked(what, prov, ensemble), f"**{ensemble['nats']:.2f} nats/image**", detail]], prov


def block_headline(res: Results) -> list[str]:
    """The headline rows (demo NLL, fast and compiled sampling, the codec against the classical
    codecs, the order ensemble and completion) and, under them, where each source table was measured."""
    cells: list[list[str]] = []
    lines: list[str] = []
    for part in (_demo, _sampling, _compiled, _codec, _orders):
        rows, prov = part(res)
        cells += rows
        if prov is not None:
            lines += [line for line in prov.lines if line not in lines]
    if not cells:
        return ["*No results yet: run `make bench`.*"]
    return [*table(["what", "result", "details"], cells), "", *lines]
