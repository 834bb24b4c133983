"""The codec benchmarks' results tables (bench_codec, bench_codec_real), one function per block."""

from __future__ import annotations

from report_base import (
    CODECS,
    Doc,
    Results,
    marked,
    missing,
    setting,
    sig,
    table,
)


def model_label(r: dict) -> str:
    if "model" not in r:
        return "not recorded"
    args = r.get("args", {})
    text = f"{r['model']}, {args.get('num_layers', '?')}×{args.get('hidden_channels', '?')}"
    return text + (f", {args['num_components']} components" if "num_components" in args else "")


def codec_rows(d: Doc) -> list[dict]:
    """The codec rows in the benchmark's order of datasets."""
    order = ["digits-binary", "digits-8bit", "photos32"]
    return sorted(d.rows, key=lambda r: (order.index(r["data"]) if r["data"] in order else len(order), r["data"]))


def block_codec(res: Results) -> list[str]:
    d = res.docs["codec"]
    if not d:
        return missing("codec")
    rows = codec_rows(d)
    prov = res.prov("codec", [(d, r) for r in rows])
    lines = [
        ("model NLL", "model_nll_bpd"),
        ("**model codec, whole set (real file)**", "model_codec_whole_set_bpd"),
        ("**model codec, one file per image**", "model_codec_per_image_file_bpd"),
    ]
    for name in CODECS:
        lines += [(f"{name}, per image", f"{name} per image"), (f"{name}, whole set tiled", f"{name} whole set")]
    cells = [["model trained", *(model_label(r) for r in rows)], ["test images", *(str(r["images"]) for r in rows)]]
    cells += [[title, *(f"{r[key]:.3f}" if r.get(key) is not None else "n/a" for r in rows)] for title, key in lines]
    cells.append(["encode / decode, images/s", *(f"{sig(r['encode_img_s'])} / {sig(r['decode_img_s'])}" for r in rows)])
    per_file = [
        [
            marked(r["data"], prov, r),
            f"{r['model_nll_bytes_per_image']:.1f}",
            f"{r['model_codec_per_image_payload_bytes']:.1f}",
            f"{r['model_codec_framing_bytes']:.1f}",
            f"{r['model_codec_per_image_file_bpd']:.3f}",
            f"{r['JPEG-XL lossless per image']:.3f}" if r.get("JPEG-XL lossless per image") else "n/a",
        ]
        for r in rows
        if "model_codec_per_image_payload_bytes" in r
    ]
    extra: list[str] = []
    if per_file:
        extra += [
            "One file per image: bytes per image (the model's NLL, the payload, the header) and bits per sub-pixel:",
            "",
            *table(
                ["", "NLL, bytes", "payload, bytes", "header, bytes", "file, bits/dim", "JPEG XL, bits/dim"], per_file
            ),
            "",
        ]
    speed = [
        [
            marked(r["data"], prov, r),
            f"{sig(r['per_image_speed']['encode_img_s'])} / {sig(r['per_image_speed']['decode_img_s'])}",
            f"{sig(r['per_image_speed']['encode_mp_s'])} / {sig(r['per_image_speed']['decode_mp_s'])}",
            f"{sig(r['jxl_per_image_speed']['encode_img_s'])} / {sig(r['jxl_per_image_speed']['decode_img_s'])}",
            f"{sig(r['image_256']['model_encode_s'])} / {sig(r['image_256']['model_decode_s'])}",
            f"{r['image_256']['model_bpd']:.3f}",
            f"{sig(r['image_256']['jxl_encode_s'])} / {sig(r['image_256']['jxl_decode_s'])}",
            f"{r['image_256']['jxl_bpd']:.3f}",
        ]
        for r in rows
        if "per_image_speed" in r
    ]
    if speed:
        extra += [
            "Speed, one image per file, in one run (encode / decode): the model codec and JPEG XL (effort 10) on "
            "the same images, and one 256×256 image made of test images tiled (seconds, bits/dim):",
            "",
            *table(
                [
                    "",
                    "model, images/s",
                    "model, MP/s",
                    "JPEG XL, images/s",
                    "256×256: model, s",
                    "model, bits/dim",
                    "JPEG XL, s",
                    "JPEG XL, bits/dim",
                ],
                speed,
            ),
            "",
        ]
    port = [r for r in rows if "portable" in r]
    if port:
        cells_p = []
        for r in port:
            p, f = r["portable"]["portable"], r["portable"]["float"]
            cells_p.append(
                [
                    marked(r["data"], prov, r),
                    str(r["portable"]["images"]),
                    f"{r['portable']['model_nll_bpd']:.3f}",
                    f"{f['file_bpd']:.3f}",
                    f"{p['file_bpd']:.3f}",
                    f"{sig(f['encode_img_s'])} / {sig(f['decode_img_s'])}",
                    f"{sig(p['encode_img_s'])} / {sig(p['decode_img_s'])}",
                ]
            )
        extra += [
            "Portable mode (the integer network of `pixelar.portable`; files decode on any set-up) against the "
            "float model, one file per image:",
            "",
            *table(
                [
                    "",
                    "images",
                    "float NLL, bits/dim",
                    "float file, bits/dim",
                    "portable file, bits/dim",
                    "float, images/s (enc / dec)",
                    "portable, images/s",
                ],
                cells_p,
            ),
            "",
        ]
    caption = (
        f"Bits per sub-pixel on the same test images in every row, each model trained for {setting(d, 'minutes')} "
        "min on its training split:"
    )
    out = [caption, "", *table(["", *(marked(r["data"], prov, r) for r in rows)], cells), "", *extra]
    if any("model_nll_bpd_per_image_subset" in r for r in rows):
        out += ["In this file the per-image model rows covered only the first test images, the others all of them.", ""]
    return out + prov.lines


REAL_CODECS = {"pixelar": "pixelar file", "PNG": "PNG", "WebP": "WebP lossless", "JPEG XL": "JPEG XL (effort 10)"}


def block_codec_real(res: Results) -> list[str]:
    d = res.docs["codec_real"]
    if not d:
        return missing("codec_real")
    rows = d.rows
    prov = res.prov("codec_real", [(d, r) for r in rows])
    cells = []
    for r in rows:
        best = min(r[f"{key}_bytes"] for key in REAL_CODECS)
        row = [marked(f"{r['image']} ({r['kind']})", prov, r), f"{r['width']}×{r['height']}"]
        row.append(f"{r['model_nll_bytes']:,.0f} ({r['model_nll_bpp']:.4f})")
        for key in REAL_CODECS:
            text = f"{r[f'{key}_bytes']:,.0f} ({r[f'{key}_bpp']:.4f})"
            row.append(f"**{text}**" if r[f"{key}_bytes"] == best else text)
        row.append(f"{r['train_s']:.0f} / {r['compress_s']:.1f} / {r['decompress_s']:.1f}")
        cells.append(row)
    first = rows[0] if rows else {}
    caption = (
        "Whole images (bytes, and bits per pixel), each compressed by a 2-level PixelCNN "
        f"({first.get('parameters', 0):,} parameters, {first.get('steps', '?')} steps) trained through the CLI on "
        "the 32×32 tiles of the other images (leave-one-out), against the classical lossless codecs; seconds of "
        "`pixelar train` / `compress` / `decompress`, each a fresh process:"
    )
    head = ["image", "size", "model NLL", *REAL_CODECS.values(), "train / compress / decompress, s"]
    return [caption, "", *table(head, cells), "", *prov.lines]
