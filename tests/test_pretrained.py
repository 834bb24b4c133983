"""The models that ship with pixelar: usable by name, their cards true, served by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pixelar
from pixelar.checkpoint import resolve_model_dir
from pixelar.cli import main
from pixelar.data import get_dataset
from pixelar.errors import PixelarError
from pixelar.evaluation import evaluate
from pixelar.pretrained import CARD_FIELDS, ROOT, list_pretrained, pretrained_dir, read_card

BUNDLED = ("digits", "digits-binary")
SHIPPED = list_pretrained()


def test_the_bundled_digits_model_ships() -> None:
    assert "digits-binary" in SHIPPED, "the pretrained model of the bundled binary digits is missing"


@pytest.mark.parametrize("name", [n for n, card in SHIPPED.items() if card["data"] in BUNDLED])
def test_card_nll_is_the_model_nll(name: str) -> None:
    card = SHIPPED[name]
    model = pixelar.load(name)
    nll = evaluate(model, get_dataset(card["data"], card["split"]))
    value = nll.nats_per_image if card["unit"] == "nats" else nll.bits_per_dim
    assert nll.count == card["images"]
    assert value == pytest.approx(card["test_nll"], abs=0.01)


@pytest.mark.parametrize("name", list(SHIPPED))
def test_card_says_everything_and_files_are_small(name: str) -> None:
    card = SHIPPED[name]
    assert set(CARD_FIELDS) <= set(card) and card["name"] == name
    assert card["recipe"].startswith("pixelar train") and len(card["commit"]) == 40
    assert (ROOT / name / "model.safetensors").stat().st_size < 5 * 2**20


def test_a_name_loads_where_a_directory_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_model_dir("digits-binary") == ROOT / "digits-binary"
    assert pretrained_dir("../digits-binary") is None and pretrained_dir("") is None
    (tmp_path / "digits-binary").mkdir()  # a path that exists comes first
    with pytest.raises(PixelarError, match=r"holds no config\.json"):
        resolve_model_dir("digits-binary")


def test_an_unknown_name_lists_the_shipped_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PixelarError, match=r"does not exist; .*pretrained model name \(.*digits-binary"):
        pixelar.load("no-such-model")


def test_a_damaged_card_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "card.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(PixelarError, match="lacks data, split"):
        read_card(tmp_path)
    (tmp_path / "card.json").write_text("{")
    with pytest.raises(PixelarError, match="unreadable"):
        read_card(tmp_path)


def test_cli_verbs_take_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["sample", "digits-binary", "-n", "2", "-o", "s.png", "--quiet"]) == 0
    assert (tmp_path / "s.png").is_file()
    assert main(["complete", "digits-binary", "--count", "1", "-n", "1", "-o", "c.png", "--quiet"]) == 0
    assert main(["receptive-field", "--model", "digits-binary", "-o", "rf.png"]) == 0
    assert (tmp_path / "c.png").is_file() and (tmp_path / "rf.png").is_file()
    assert main(["eval", "digits-binary", "--quiet"]) == 0
    assert "digits-binary/test" in capsys.readouterr().out
    assert main(["list", "pretrained"]) == 0
    assert "digits-binary" in capsys.readouterr().out


def test_serve_with_no_argument_serves_the_shipped_models(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[object] = []
    monkeypatch.setattr("pixelar.web.serve", lambda models, **kw: served.append(models))
    assert main(["serve"]) == 0
    from pixelar.web.catalog import find_models

    assert set(find_models(served[0])) == set(SHIPPED)  # type: ignore[arg-type]


def test_the_page_shows_test_images_of_a_shipped_model() -> None:
    from starlette.testclient import TestClient

    from pixelar.web.app import create_app

    with TestClient(create_app(ROOT)) as client:
        reply = client.get("/api/example", params={"model": "digits-binary", "index": 3})
        assert reply.status_code == 200, reply.text
        assert reply.json()["image"].startswith("data:image/png")
