"""The page codec against JBIG on the eight CCITT fax pages, leave-one-out.

    python benchmarks/bench_documents.py --threads 2 [--runs runs] [--pages 1,...,8] [--stripes 128,256,512,1024,2376]

For each page N, a template model (preset ``ccitt-pages``) trained on the 128×128 tiles of the
other seven pages codes page N whole (pixelar.codec.pages): the file's bytes with and without
the adaptive stage, and the adaptive stage alone (a template model of zero weights), the time to encode and to decode it at the default stripe height (the round
trip checked), beside JBIG (jbigkit's ``pbmtojbg -q``), CCITT G4 (TIFF), PNG, WebP and JPEG XL
lossless (document_baselines.py). Then the shipped model ``ccitt-pages`` (trained on all eight
pages: in-sample, shown apart) codes every page, and every leave-one-out model codes its page at
each ``--stripes`` height (bytes only: what starting the template afresh at each stripe costs).

The models are trained here when missing (``--runs``/documents/exceptN, one after another, by
``pixelar train --preset ccitt-pages``, one thread each); the pages and the JBIG tools come from
Debian: ``python benchmarks/fetch_data.py --sets ccitt``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import harness
import pixelar
from document_baselines import BASELINES
from pixelar.codec.pages import DEFAULT_PAGE_MODEL, DEFAULT_STRIPE, compress_page, decompress_page
from pixelar.data import load_ccitt_pages
from pixelar.errors import PixelarError
from pixelar.pretrained import card_of

PRESET = "ccitt-pages"


def loo_model(n: int, pages_dir: Path, runs: Path, quick: bool) -> Path:
    """The run of the model trained without page ``n`` (trained here when missing)."""
    run = runs / "documents" / f"except{n}"
    if (run / "model").is_dir():
        return run
    folder = runs / "documents" / "pages" / f"except{n}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 9):
        link = folder / f"ccitt{i}.pbm"
        if i != n and not link.exists():
            link.symlink_to((pages_dir / f"ccitt{i}.pbm").resolve())
    steps = ["--steps", "3"] if quick else []
    command = [sys.executable, "-m", "pixelar", "train", "--preset", PRESET, "--data", f"folder:{folder}", "--quiet"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    subprocess.run([*command, *steps, "--out", str(run)], check=True, env=env)
    return run


def counts_only() -> pixelar.models.AutoregressiveModel:
    """The template model with every weight zero: its logit is always 0, so the adaptive stage
    alone codes the page (what the network adds is the difference)."""
    model = pixelar.create_model("pixelcnn", (1, 128, 128), 2, num_layers=0, input_kernel=15, hidden_channels=32)
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
    return model


def code(model, page: np.ndarray, stripe: int, adapt: bool, decode: bool) -> dict:
    """One page through the page codec: bytes, and the seconds to encode (and decode)."""
    with harness.Timer() as enc:
        data = compress_page(model, page, stripe, adapt)
    row = {"bytes": len(data), "encode_s": enc.seconds}
    if decode:
        with harness.Timer() as dec:
            back = decompress_page(model, data)
        row |= {"decode_s": dec.seconds, "exact": bool(np.array_equal(back, page))}
    return row


def main() -> None:
    p = harness.parser(__doc__, "documents")
    p.add_argument("--pages", default="1,2,3,4,5,6,7,8")
    p.add_argument("--stripes", default="128,256,512,1024,2376")
    a = harness.parse(p, "documents", {"pages": "1", "stripes": "256"})
    pages = load_ccitt_pages()
    pages_dir = pixelar.data.documents.ccitt_dir()
    runs, rows = Path(a.runs), []
    shipped, nothing = pixelar.load(DEFAULT_PAGE_MODEL), counts_only()
    card = card_of(DEFAULT_PAGE_MODEL) or {}
    rows.append({"kind": "shipped", "name": DEFAULT_PAGE_MODEL, **{k: card.get(k) for k in ("recipe", "commit")}})
    for n in map(int, harness.each(a.pages)):
        page = pages[n - 1]
        for codec, size in BASELINES.items():
            with harness.Timer() as t:
                rows.append({"kind": "page", "page": n, "codec": codec, "bytes": size(page)})
            rows[-1]["encode_s"] = t.seconds
            harness.emit(rows[-1])
        run = loo_model(n, pages_dir, runs, a.quick)
        model = pixelar.load(run)
        steps = max(json.loads(line).get("step", 0) for line in (run / "metrics.jsonl").read_text().splitlines())
        for adapt in (True, False):
            row = {"kind": "page", "page": n, "codec": "pixelar" if adapt else "pixelar (network only)"}
            rows.append(
                row | {"stripe": DEFAULT_STRIPE, "steps": steps} | code(model, page, DEFAULT_STRIPE, adapt, adapt)
            )
            harness.emit(rows[-1])
        ablation = {"kind": "page", "page": n, "codec": "pixelar (adaptive stage only)", "stripe": DEFAULT_STRIPE}
        rows.append(ablation | code(nothing, page, DEFAULT_STRIPE, True, False))
        harness.emit(rows[-1])
        shipped_row = {"kind": "page", "page": n, "codec": "pixelar, shipped model (in-sample)"}
        rows.append(shipped_row | {"stripe": DEFAULT_STRIPE} | code(shipped, page, DEFAULT_STRIPE, True, False))
        harness.emit(rows[-1])
        for stripe in map(int, harness.each(a.stripes)):
            rows.append({"kind": "stripe", "page": n, "stripe": stripe} | code(model, page, stripe, True, False))
            harness.emit(rows[-1])
    harness.write_results(a.out, "documents", rows, ("kind", "page", "codec", "stripe"), a)
    harness.show(a.out, "documents")


if __name__ == "__main__":
    try:
        main()
    except PixelarError as e:  # no pages, no JBIG tools: one line with the fix
        raise SystemExit(f"error: {e}") from None
