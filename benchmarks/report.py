"""Print the README's results tables (Markdown) from benchmarks/results/*.json.

python benchmarks/report.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def models() -> None:
    d = load("models")
    if not d:
        return
    m = d.get("meta", {})
    print(
        f"Same depth and width for every model (num_layers={m.get('num_layers')}, hidden_channels="
        f"{m.get('hidden_channels')}); NLL after {m.get('minutes')} min of training at batch 32 "
        "(`python benchmarks/bench_models.py --minutes 2`):\n"
    )
    print(
        "| model | train images/s 28×28×1 | train images/s 32×32×3 | sample 16 (s) 28×28×1 | sample 16 (s) 32×32×3 | steps in budget | test NLL (nats) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in sorted(d["rows"], key=lambda r: r["model"]):
        nll = next((v for k, v in r.items() if k.startswith("digits_binary_nats")), float("nan"))
        steps = next((v for k, v in r.items() if k.startswith("digits_binary_steps")), "")
        print(
            f"| {r['model']} | {r['train_img_s_28x28x1']:.0f} | {r['train_img_s_32x32x3']:.1f} | "
            f"{r['sample16_s_28x28x1']:.2f} | {r['sample16_s_32x32x3']:.2f} | {steps} | {nll:.2f} |"
        )
    print()


def sampling() -> None:
    d = load("sampling")
    if not d:
        return
    print(
        "Fast vs naive sampling, same weights and seed (naive timed on the first rows and scaled; "
        "`python benchmarks/bench_sampling.py --num-layers 4 --naive-rows 4`):\n"
    )
    print("| model | size | batch | naive (s) | fast (s) | fast speed-up | fast ÷ one forward pass |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted((r for r in d["rows"] if "speedup" in r), key=lambda r: (r["model"], r["size"], r["batch"])):
        print(
            f"| {r['model']} | {r['size']} | {r['batch']} | {r['naive_s']:.1f} | {r['fast_s']:.2f} | "
            f"{r['speedup']:.0f}× | {r['fast_over_forward']:.1f} |"
        )
    if (RESULTS / "sampling.png").exists():
        print("\n![fast vs naive sampling](benchmarks/results/sampling.png)")
    paper = load("sampling_pixelcnn_paper")
    if paper:
        m = paper["meta"]
        print(
            f"\nThe same for a PixelCNN of the paper's size (num_layers={m['num_layers']}, hidden_channels="
            f"{m['hidden_channels']}; `python benchmarks/bench_sampling.py --models pixelcnn --num-layers "
            f"{m['num_layers']} --hidden-channels {m['hidden_channels']} --naive-rows {m['naive_rows']} "
            "--no-identity --out benchmarks/results/sampling_pixelcnn_paper.json`):\n"
        )
        print("| model | size | batch | naive (s) | fast (s) | fast speed-up | fast ÷ one forward pass |")
        print("|---|---|---|---|---|---|---|")
        for r in sorted((r for r in paper["rows"] if "speedup" in r), key=lambda r: (r["size"], r["batch"])):
            print(
                f"| {r['model']} | {r['size']} | {r['batch']} | {r['naive_s']:.1f} | {r['fast_s']:.2f} | "
                f"{r['speedup']:.0f}× | {r['fast_over_forward']:.1f} |"
            )
    same = [r for r in d["rows"] if "float32_identical" in r]
    if same:
        text = ", ".join(f"{r['model']} {r['float32_identical']:.1%}" for r in sorted(same, key=lambda r: r["model"]))
        print(f"\nSub-pixels identical between fast and naive float32 samples (28×28, batch 16): {text}.")
    print()


def quality() -> None:
    d = load("quality")
    if not d:
        return
    print("Same wall-clock budget per model (`python benchmarks/bench_quality.py --minutes 5`):\n")
    print("| model | config | parameters | steps | test NLL (nats/image) |")
    print("|---|---|---|---|---|")
    for r in d["rows"]:
        print(
            f"| {r['model']} | {json.dumps(r['args'])} | {r['parameters']:,} | {r['steps']} | {r['test_nll_nats']:.2f} |"
        )
    print()


def conditional() -> None:
    d = load("conditional")
    if not d:
        return
    print(
        "Class-conditional samples classified by a logistic regression fitted on the training digits "
        "(`python benchmarks/bench_conditional.py --minutes 3`; chance 10%):\n"
    )
    print("| model | steps | test NLL (nats) | samples classified as the requested digit |")
    print("|---|---|---|---|")
    for r in d["rows"]:
        print(f"| {r['model']} | {r['steps']} | {r['test_nll_nats']:.2f} | {r['label_agreement']:.0%} |")
    if d["rows"]:
        print(
            f"\n(The classifier scores {d['rows'][0]['classifier_accuracy_on_real_test']:.0%} on the real test digits.)"
        )
    print()


def codec() -> None:
    d = load("codec")
    if not d:
        return
    rows = d["rows"]
    print(f"Bits per sub-pixel on the test images (`python benchmarks/bench_codec.py --minutes {d['minutes']:g}`):\n")
    print("| | " + " | ".join(r["data"] for r in rows) + " |")
    print("|---" * (len(rows) + 1) + "|")
    lines = [
        ("model NLL", "model_nll_bpd"),
        ("**model codec, whole set (real file)**", "model_codec_whole_set_bpd"),
        ("model codec, per image (payload)", "model_codec_per_image_payload_bpd"),
        ("model codec, per image (file with 61-byte header)", "model_codec_per_image_file_bpd"),
    ]
    for codec_name in ("PNG", "WebP lossless", "JPEG-XL lossless", "JPEG 2000 lossless"):
        lines += [
            (f"{codec_name}, per image", f"{codec_name} per image"),
            (f"{codec_name}, whole set tiled", f"{codec_name} whole set"),
        ]
    for title, key in lines:
        cells = [f"{r[key]:.3f}" if r.get(key) is not None else "n/a" for r in rows]
        print(f"| {title} | " + " | ".join(cells) + " |")
    print(
        "| encode / decode, images/s | "
        + " | ".join(f"{r['encode_img_s']:.0f} / {r['decode_img_s']:.0f}" for r in rows)
        + " |"
    )
    print()


if __name__ == "__main__":
    for section in (models, sampling, quality, conditional, codec):
        section()
