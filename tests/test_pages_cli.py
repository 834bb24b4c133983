"""compress and decompress for black-and-white pages: with no model (the shipped page model), with
a template model given, and the one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import tiny
from pixelar.cli import main
from pixelar.codec.pages import DEFAULT_PAGE_MODEL, read_page_header
from pixelar.data import read_bilevel, write_bilevel
from pixelar.pretrained import pretrained_dir

pytest.importorskip("constriction")


def cli(*argv) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return int(e.code or 0)


def text_like_page(height: int = 90, width: int = 120, seed: int = 0) -> np.ndarray:
    """White paper with rows of small black blocks, like lines of print."""
    rng = np.random.default_rng(seed)
    page = np.zeros((height, width), dtype=np.uint8)
    for top in range(6, height - 10, 14):
        for left in range(4, width - 8, 7):
            if rng.random() < 0.8:
                page[top : top + 8, left : left + rng.integers(2, 6)] = 1
    return page


@pytest.mark.skipif(pretrained_dir(DEFAULT_PAGE_MODEL) is None, reason="the page model is not shipped")
def test_a_page_round_trips_with_no_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    page = text_like_page()
    write_bilevel(page, tmp_path / "page.png")
    assert cli("compress", tmp_path / "page.png", "-o", tmp_path / "page.pxz") == 0
    assert "compressed a 90×120 page" in capsys.readouterr().out
    assert cli("decompress", tmp_path / "page.pxz", "-o", tmp_path / "out") == 0
    assert np.array_equal(read_bilevel(tmp_path / "out" / "page.png"), page)
    assert (tmp_path / "page.pxz").stat().st_size < page.size / 8  # smaller than the raw bits


def test_a_template_model_given_codes_pages(tmp_path: Path) -> None:
    model = tiny("pixelcnn", (1, 8, 8), 2, num_layers=0, input_kernel=5, hidden_channels=4)
    model.save_pretrained(tmp_path / "model")
    page = text_like_page(seed=1)
    write_bilevel(page, tmp_path / "page.pbm")
    assert cli("compress", tmp_path / "model", tmp_path / "page.pbm", "-o", tmp_path / "p.pxz", "--stripe", 16) == 0
    assert read_page_header((tmp_path / "p.pxz").read_bytes()).stripe == 16
    assert cli("decompress", tmp_path / "model", tmp_path / "p.pxz", "-o", tmp_path / "out") == 0
    assert np.array_equal(read_bilevel(tmp_path / "out" / "p.png"), page)


def test_errors_name_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = tiny("pixelcnn", (1, 8, 8), 2, num_layers=0, input_kernel=5, hidden_channels=4)
    model.save_pretrained(tmp_path / "model")
    grey = (np.arange(64 * 64).reshape(64, 64) % 7 * 30).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    (tmp_path / "images.pxz").write_bytes(b"PX\x05\x00abc")
    cases = [
        (
            ("compress", tmp_path / "model", tmp_path / "grey.png", "-o", tmp_path / "g.pxz"),
            "pixelar compress RUN_OR_DIR",
        ),
        (("decompress", tmp_path / "images.pxz"), "pass the model it was compressed with"),
    ]
    for argv, message in cases:
        assert cli(*argv) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_two_colours_that_are_not_black_and_white_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = tiny("pixelcnn", (1, 8, 8), 2, num_layers=0, input_kernel=5, hidden_channels=4)
    model.save_pretrained(tmp_path / "model")
    two = np.where(text_like_page()[..., None] == 1, [100, 155, 50], [200, 55, 100]).astype(np.uint8)
    Image.fromarray(two).save(tmp_path / "two.png")
    assert cli("compress", tmp_path / "model", tmp_path / "two.png", "-o", tmp_path / "t.pxz") == 2
    err = capsys.readouterr().err.strip()
    assert "other than pure black and white" in err and "pixelar compress RUN_OR_DIR" in err
    assert cli("compress", tmp_path / "model", tmp_path / "two.png", "--device", "bogus") == 2
