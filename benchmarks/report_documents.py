"""The page codec's results (bench_documents.py): bytes per CCITT page for every codec, the
leave-one-out models against JBIG, the shipped model, the times, and what stripes cost."""

from __future__ import annotations

from report_base import Results, captioned, missing

ORDER = [
    "pixelar",
    "pixelar (network only)",
    "pixelar (adaptive stage only)",
    "JBIG",
    "CCITT G4",
    "JPEG XL",
    "WebP",
    "PNG",
]
SHIPPED = "pixelar, shipped model (in-sample)"


def _pages(rows: list[dict]) -> list[int]:
    return sorted({r["page"] for r in rows if r["kind"] == "page"})


def _sizes(rows: list[dict], codec: str) -> dict[int, dict]:
    return {r["page"]: r for r in rows if r["kind"] == "page" and r["codec"] == codec}


def _row(name: str, by_page: dict[int, dict], pages: list[int], jbig: dict[int, dict]) -> list[str]:
    total = sum(by_page[n]["bytes"] for n in pages)
    ratio = total / sum(jbig[n]["bytes"] for n in pages) if jbig else float("nan")
    return [name, *(f"{by_page[n]['bytes']:,}" for n in pages), f"**{total:,}**", f"{ratio:.3f}"]


def _table(res: Results, codecs: list[str]) -> tuple[list[str], list[list[str]], object, list[dict]]:
    d = res.docs["documents"]
    assert d is not None
    pages = _pages(d.rows)
    jbig = _sizes(d.rows, "JBIG")
    cells, used = [], []
    for codec in codecs:
        by_page = _sizes(d.rows, codec)
        if all(n in by_page for n in pages):
            cells.append(_row(codec, by_page, pages, jbig))
            used.extend(by_page.values())
    header = ["codec", *(f"p{n}" for n in pages), "total", "× JBIG"]
    return header, cells, res.prov("documents", [(d, r) for r in used]), used


def _wins(rows: list[dict]) -> str:
    ours, jbig = _sizes(rows, "pixelar"), _sizes(rows, "JBIG")
    won = sum(ours[n]["bytes"] < jbig[n]["bytes"] for n in ours if n in jbig)
    worst = max((r.get("encode_s", 0), r.get("decode_s", 0)) for r in ours.values())
    exact = all(r.get("exact") for r in ours.values())
    return (
        f"pixelar is smaller than JBIG on {won} of {len(ours)} pages; the slowest page took {worst[0]:.1f} s to "
        f"encode and {worst[1]:.1f} s to decode ({'every round trip exact' if exact else 'A ROUND TRIP FAILED'})"
    )


def block_documents_headline(res: Results) -> list[str]:
    """The README's: leave-one-out and shipped-model bytes per CCITT page beside JBIG's."""
    d = res.docs["documents"]
    if not d:
        return missing("documents")
    header, cells, prov, _ = _table(res, ["pixelar", SHIPPED, "JBIG", "JPEG XL"])
    stripe = next(r["stripe"] for r in d.rows if r["kind"] == "page" and r["codec"] == "pixelar")
    caption = (
        "Bytes per CCITT fax page (1728×2376, bilevel). *pixelar*: the page codec with a template model trained "
        f"on the other seven pages (leave-one-out), stripes of {stripe} rows; *shipped model*: `ccitt-pages`, "
        f"trained on all eight (in-sample). {_wins(d.rows)}. Every codec and the stripe costs: "
        "[codec results](docs/results/codec.md)."
    )
    return captioned(caption, header, cells, prov)


def block_documents(res: Results) -> list[str]:
    """Every codec on every page, the times, and the bytes per stripe height."""
    d = res.docs["documents"]
    if not d:
        return missing("documents")
    header, cells, prov, _ = _table(res, [*ORDER, SHIPPED])
    ours = _sizes(d.rows, "pixelar")
    caption = (
        "Bytes per CCITT fax page, every codec in one run. *pixelar*: leave-one-out template models (preset "
        "`ccitt-pages`, each trained on the 128×128 tiles of the other seven pages) with the adaptive stage; "
        "*network only*: without it; *adaptive stage only*: with a network of zero weights (what the network adds is "
        "the difference); JBIG: jbigkit's `pbmtojbg -q`; CCITT G4: Pillow's TIFF; JPEG XL lossless at "
        f"effort 9; WebP lossless; PNG. {_wins(d.rows)}."
    )
    lines = captioned(caption, header, cells, prov)
    times = [
        [f"p{n}", f"{r['encode_s']:.1f}", f"{r['decode_s']:.1f}", "yes" if r["exact"] else "NO"]
        for n, r in sorted(ours.items())
    ]
    lines += ["", "Seconds per page (leave-one-out model, with the adaptive stage):", ""]
    lines += ["| page | encode s | decode s | round trip exact |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(t) + " |" for t in times]
    stripes = sorted({r["stripe"] for r in d.rows if r["kind"] == "stripe"})
    pages = sorted({r["page"] for r in d.rows if r["kind"] == "stripe"})
    by = {(r["stripe"], r["page"]): r["bytes"] for r in d.rows if r["kind"] == "stripe"}
    if stripes and all((s, n) in by for s in stripes for n in pages):
        lines += [
            "",
            "Total bytes over the pages by stripe height (each stripe's template starts afresh at its top; the stripes are decoded together as one batch and share the adaptive stage):",
            "",
        ]
        lines += ["| rows per stripe | stripes per page | total bytes |", "|---|---|---|"]
        lines += [f"| {s} | {-(-2376 // s)} | {sum(by[s, n] for n in pages):,} |" for s in stripes]
    return lines
