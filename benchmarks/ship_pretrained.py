"""Put a trained run into the package as a pretrained model (src/pixelar/pretrained/NAME/): its
weights (safetensors), config and a model card measured here: the whole test split's NLL, the
recipe that trained it (the run's train_config.json and the command to repeat it) and the commit.

    python benchmarks/ship_pretrained.py digits-binary /work/runs/digits-binary-pre \
        --recipe "pixelar train --preset digits-binary-pretrained"

``--check`` instead re-measures every shipped model whose data is here and compares it with its
card (the suite does that for the bundled data; the standard datasets need ``make data``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pixelar
from pixelar.checkpoint import RUN_CONFIG_FILE, atomic_write_text, save_pretrained
from pixelar.data import get_dataset
from pixelar.errors import PixelarError
from pixelar.evaluation import evaluate
from pixelar.models.base import AutoregressiveModel
from pixelar.pretrained import CARD_FILE, ROOT, list_pretrained
from provenance import git_state

TOLERANCE = 0.01  # nats per image: float32 sums in another order on another machine


def measure(model: AutoregressiveModel, data: str, split: str) -> tuple[float, str, int]:
    """(NLL, unit, images) of ``model`` over the whole ``split`` of ``data``; for "ccitt" (a page
    model) the page codec's ideal bits per pixel over the eight CCITT pages."""
    if data == "ccitt":
        from pixelar.codec.pages import page_bits
        from pixelar.data import load_ccitt_pages

        pages = load_ccitt_pages()
        return sum(page_bits(model, page) for page in pages) / sum(page.size for page in pages), "bits/pixel", 8
    dataset = get_dataset(data, split, download=False)
    nll = evaluate(model, dataset, batch_size=256, progress=False)
    if model.num_levels == 2:
        return nll.nats_per_image, "nats", nll.count
    return nll.bits_per_dim, "bits/dim", nll.count


def ship(name: str, run: Path, recipe: str, description: str, split: str, data: str | None) -> Path:
    commit, dirty, paths = git_state()
    if dirty:
        print(f"note: the tree has changes ({', '.join(paths[:3])}); the card names {commit} all the same")
    trained = json.loads((run / RUN_CONFIG_FILE).read_text())
    model = pixelar.load(run)
    data = data or trained["data"]
    value, unit, images = measure(model, data, split)
    directory = save_pretrained(model, ROOT / name)
    card = {
        "name": name,
        "description": description,
        "model": model.model_name,
        "data": data,
        "split": split,
        "test_nll": round(value, 4),
        "unit": unit,
        "images": images,
        "recipe": recipe,
        "train_config": trained,
        "commit": commit,
    }
    atomic_write_text(directory / CARD_FILE, json.dumps(card, indent=2) + "\n")
    print(f"shipped {name}: {value:.4f} {unit} on {data}/{split} ({images} images) -> {directory}")
    return directory


def check() -> int:
    failures = 0
    for name, card in list_pretrained().items():
        try:
            value, unit, images = measure(pixelar.load(name), card["data"], card["split"])
        except PixelarError as e:
            print(f"{name}: skipped ({e})")
            continue
        ok = abs(value - card["test_nll"]) <= TOLERANCE and images == card["images"]
        failures += not ok
        print(f"{name}: {value:.4f} {unit} measured, {card['test_nll']:.4f} on the card: {'ok' if ok else 'MISMATCH'}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?")
    parser.add_argument("run", nargs="?", type=Path)
    parser.add_argument("--recipe", help="the command that trained the run")
    parser.add_argument("--description", help="one line for 'pixelar list pretrained'")
    parser.add_argument("--split", default="test")
    parser.add_argument("--data", help="the data the card names and measures (default: the run's); ccitt: the pages")
    parser.add_argument("--check", action="store_true", help="re-measure every shipped model against its card")
    a = parser.parse_args()
    if a.check:
        return check()
    if not (a.name and a.run and a.recipe and a.description):
        parser.error("NAME, RUN, --recipe and --description are needed (or --check)")
    ship(a.name, a.run, a.recipe, a.description, a.split, a.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
