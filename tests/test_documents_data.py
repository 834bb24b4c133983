"""Bilevel document images (pixelar.data.documents): reading and writing black-and-white files,
and loading the CCITT pages from a data directory, on small synthetic pages (offline)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixelar.data import load_ccitt_pages, read_bilevel, write_bilevel
from pixelar.errors import PixelarError


def random_page(seed: int, shape: tuple[int, int] = (37, 53)) -> np.ndarray:
    """A random uint8 page of 0 (white) and 1 (black); odd sizes, so rows do not fill whole bytes."""
    return (np.random.default_rng(seed).random(shape) < 0.3).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".pbm", ".tif"])
def test_write_then_read_gives_the_array_back(tmp_path, suffix):
    page = random_page(0)
    path = write_bilevel(page, tmp_path / f"page{suffix}")
    with Image.open(path) as image:
        assert image.mode == "1"
        assert np.array_equal(np.asarray(image), page == 0)  # in the file, white is 1 and black is 0
    back = read_bilevel(path)
    assert back.dtype == np.uint8 and back.shape == page.shape
    assert np.array_equal(back, page)


def test_a_pbm_with_black_ink_reads_as_ones(tmp_path):
    path = tmp_path / "ink.pbm"
    path.write_bytes(b"P1\n3 2\n1 0 0\n0 0 1\n")  # in PBM, 1 is black
    assert read_bilevel(path).tolist() == [[1, 0, 0], [0, 0, 1]]


def test_a_two_level_grey_image_reads_darker_as_black(tmp_path):
    page = random_page(1)
    Image.fromarray(np.where(page == 1, 40, 200).astype(np.uint8)).save(tmp_path / "grey.png")
    assert np.array_equal(read_bilevel(tmp_path / "grey.png"), page)


def test_more_than_two_grey_levels_is_an_error_naming_how_many(tmp_path):
    Image.fromarray(np.array([[0, 128, 255]], dtype=np.uint8)).save(tmp_path / "grey.png")
    with pytest.raises(PixelarError, match=r"3 grey levels.*threshold") as info:
        read_bilevel(tmp_path / "grey.png")
    assert "\n" not in str(info.value)


def test_reading_a_missing_file_or_no_image_is_a_one_line_error(tmp_path):
    with pytest.raises(PixelarError, match="does not exist"):
        read_bilevel(tmp_path / "none.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(PixelarError, match="cannot read"):
        read_bilevel(tmp_path / "text.png")


def test_writing_other_values_is_an_error(tmp_path):
    with pytest.raises(PixelarError, match=r"only 0 \(white\) and 1 \(black\)"):
        write_bilevel(np.array([[0, 255]], dtype=np.uint8), tmp_path / "page.png")
    with pytest.raises(PixelarError, match="2-D"):
        write_bilevel(np.zeros((2, 2, 2), dtype=np.uint8), tmp_path / "page.png")


def test_missing_pages_error_says_where_and_how_to_fetch(tmp_path):
    with pytest.raises(PixelarError) as info:
        load_ccitt_pages(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "ccitt") in message
    assert "python benchmarks/fetch_data.py --sets ccitt" in message
    assert "\n" not in message
    write_bilevel(random_page(2), tmp_path / "ccitt" / "ccitt1.pbm")
    with pytest.raises(PixelarError, match=r"ccitt2\.pbm, ccitt3\.pbm"):
        load_ccitt_pages(tmp_path)


def test_load_ccitt_pages_reads_the_eight_pages_in_order(tmp_path, monkeypatch):
    pages = [random_page(seed, (24, 16)) for seed in range(8)]
    for number, page in enumerate(pages, start=1):
        write_bilevel(page, tmp_path / "ccitt" / f"ccitt{number}.pbm")
    loaded = load_ccitt_pages(tmp_path)
    assert len(loaded) == 8
    assert all(np.array_equal(a, b) and a.dtype == np.uint8 for a, b in zip(loaded, pages))
    monkeypatch.setenv("PIXELAR_DATA_DIR", str(tmp_path))  # the data directory by default
    assert np.array_equal(load_ccitt_pages()[7], pages[7])
