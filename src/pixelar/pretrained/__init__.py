"""Models that ship with pixelar, usable by name wherever a run or model directory is taken.

Each is a saved-model directory inside this package (``config.json``, ``model.safetensors``)
with a model card, ``card.json``: the data it was trained on, the recipe (the command that
trained it), the commit, and its test NLL. ``pixelar.load("digits-binary")`` loads one;
``pixelar serve`` with no argument serves them all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pixelar.errors import PixelarError

ROOT = Path(__file__).resolve().parent
CARD_FILE = "card.json"
# What a card must say (see docs/guide/pretrained.md): the test NLL is checked against the model
# by the tests (the bundled data) and by benchmarks/ship_pretrained.py --check (the standard data).
CARD_FIELDS = ("name", "data", "split", "test_nll", "unit", "images", "recipe", "commit", "description")


def list_pretrained() -> dict[str, dict[str, Any]]:
    """The shipped models' cards by name."""
    return {d.name: read_card(d) for d in sorted(ROOT.iterdir()) if (d / CARD_FILE).is_file()}


def pretrained_dir(name: str) -> Path | None:
    """The directory of the shipped model called ``name``, or None if there is none."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    directory = ROOT / name
    return directory if (directory / CARD_FILE).is_file() else None


def card_of(run: str | Path) -> dict[str, Any] | None:
    """The card of ``run`` when it names a shipped model or is a model directory with a card, else None."""
    directory = Path(run) if Path(run).exists() else pretrained_dir(str(run))
    if directory is None or not (directory / CARD_FILE).is_file():
        return None
    return read_card(directory)


def read_card(directory: Path) -> dict[str, Any]:
    """A shipped model's card, checked to say everything :data:`CARD_FIELDS` names."""
    path = directory / CARD_FILE
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PixelarError(f"{path} is unreadable ({e.__class__.__name__}); reinstall pixelar") from None
    missing = [field for field in CARD_FIELDS if not isinstance(card, dict) or field not in card]
    if missing:
        raise PixelarError(f"{path} lacks {', '.join(missing)}; reinstall pixelar")
    return card


__all__ = ["CARD_FIELDS", "CARD_FILE", "ROOT", "card_of", "list_pretrained", "pretrained_dir", "read_card"]
