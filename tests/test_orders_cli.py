"""Orders on the command line: train --orders (order-agnostic training), sample / complete
--order (and --animate in that order), eval --orders (each order and their ensemble),
receptive-field --order, and the refusals, each in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import tiny
from pixelar.animation import record_generation
from pixelar.cli import main
from pixelar.cli.parser import build_parser
from pixelar.cli.train import new_run_config
from pixelar.orders import make_order
from pixelar.receptive_field import receptive_field


def cli(*argv) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return int(e.code or 0)


def one_error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_train_orders_sets_the_models_training_orders():
    args = build_parser().parse_args(["train", "--model", "lmconv", "--orders", "snake, hilbert,raster-br"])
    assert new_run_config(args).model_args["orders"] == ["snake", "hilbert", "raster-br"]


def test_train_orders_is_refused_for_raster_models_and_unknown_orders(capsys, tmp_path):
    assert cli("train", "--model", "pixelcnn", "--orders", "snake", "--out", tmp_path / "a") == 2
    assert "--orders needs a model that generates in any order (lmconv)" in one_error(capsys)
    assert cli("train", "--model", "lmconv", "--orders", "snake,spiral", "--out", tmp_path / "b") == 2
    assert "unknown order 'spiral'" in one_error(capsys)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("flag", ["--orders"])
def test_resume_refuses_new_orders(flag, capsys, tmp_path):
    assert cli("train", "--resume", tmp_path, flag, "snake") == 2
    assert flag in one_error(capsys)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny lmconv trained over (snake, raster) and a tiny PixelCNN, for binary 28×28 digits."""
    d = tmp_path_factory.mktemp("orders")
    kw = {"num_layers": 1, "hidden_channels": 4}
    tiny("lmconv", (1, 28, 28), 2, orders=("snake", "raster"), **kw).float().save_pretrained(d / "lmconv")
    tiny("pixelcnn", (1, 28, 28), 2, **kw).float().save_pretrained(d / "pixelcnn")
    return d


def test_sample_in_an_order_and_animate_it(saved, tmp_path, capsys):
    npy = tmp_path / "s.npy"
    assert cli("sample", saved / "lmconv", "-n", 2, "--order", "hilbert", "-o", tmp_path / "s.png", "--npy", npy) == 0
    model = tiny("lmconv", (1, 28, 28), 2, num_layers=1, hidden_channels=4, orders=("snake", "raster")).float()
    assert np.array_equal(np.load(npy), model.sample(2, generator=0, order="hilbert").numpy())
    gif = tmp_path / "g.gif"
    assert (
        cli("sample", saved / "lmconv", "-n", 1, "--order", "column", "-o", tmp_path / "g.png", "--animate", gif) == 0
    )
    with Image.open(gif) as frames:
        assert frames.n_frames == 29  # a row's worth of pixels (28) per frame, the start and the end
    perm = np.arange(28 * 28)[::-1].copy()
    np.save(tmp_path / "perm.npy", perm)
    assert cli("sample", saved / "lmconv", "-n", 1, "--order", tmp_path / "perm.npy", "-o", tmp_path / "p.png") == 0
    capsys.readouterr()
    assert cli("sample", saved / "pixelcnn", "-n", 1, "--order", "snake", "-o", tmp_path / "x.png") == 2
    assert "generates in raster order only, not 'snake'" in one_error(capsys)
    assert not (tmp_path / "x.png").exists()


def test_the_frames_follow_the_order():
    """--animate records the generation in the sampler's order: after each frame the pixels set
    are the first ones of the order."""
    model = tiny("lmconv", (1, 3, 4), 2)
    generation = record_generation(model, 2, every=1, generator=0, order="hilbert-br")
    ranks = make_order("hilbert-br", 3, 4).ranks
    for step, done in enumerate(generation.generated[:-1]):
        assert torch.equal(done[0, 0], ranks < step), step


def test_complete_visits_the_known_pixels_first_and_reports_the_hidden_regions_nll(saved, tmp_path, capsys):
    image = tmp_path / "digit.png"
    Image.fromarray((np.random.default_rng(0).random((28, 28)) > 0.5).astype(np.uint8) * 255).save(image)
    bottom = np.zeros((28, 28), np.uint8)
    bottom[14:] = 255
    Image.fromarray(bottom).save(tmp_path / "bottom.png")
    argv = [
        "complete",
        "--input",
        image,
        "--mask",
        tmp_path / "bottom.png",
        "-n",
        1,
        "-o",
        tmp_path / "c.png",
        "--quiet",
    ]
    assert cli(*argv[:1], saved / "lmconv", *argv[1:]) == 0
    out = capsys.readouterr()
    assert "in known-first snake order) to" in out.out and not out.err
    assert "NLL of the hidden region of the input images given the known pixels (exact): " in out.out
    assert cli(*argv[:1], saved / "pixelcnn", *argv[1:]) == 0
    out = capsys.readouterr()
    assert "in raster order) to" in out.out and "given the known pixels before it in raster order" in out.out
    assert "drawn given the sub-pixels before it in raster order only" in out.err
    assert cli(*argv[:1], saved / "lmconv", *argv[1:], "--order", "raster-br") == 0
    assert "in raster-br order) to" in capsys.readouterr().out


def test_eval_in_k_orders_and_their_ensemble(saved, capsys):
    assert cli("eval", saved / "lmconv", "--data", "digits-binary", "--orders", 2, "--json", "--quiet") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("in order snake") and lines[1].endswith("in order raster")
    assert lines[2].startswith("ensemble of the 2 orders (the exact likelihood of their mixture): ")
    result = json.loads(lines[3])
    nats = [result["orders"][name]["nats_per_image"] for name in ("snake", "raster")]
    assert result["nats_per_image"] == nats[0] and result["ensemble"]["nats_per_image"] <= max(nats)
    assert cli("eval", saved / "lmconv", "--data", "digits-binary", "--orders", "raster-br", "--quiet") == 0
    assert "in order raster-br" in capsys.readouterr().out
    assert cli("eval", saved / "pixelcnn", "--data", "digits-binary", "--orders", 8, "--quiet") == 2
    assert "an ensemble of 8 orders needs a model that generates in any order" in one_error(capsys)
    assert cli("eval", saved / "lmconv", "--data", "digits-binary", "--orders", "snake,zigzag", "--quiet") == 2
    assert "unknown order 'zigzag'" in one_error(capsys)


def test_receptive_field_in_an_order(tmp_path, capsys):
    argv = ["receptive-field", "--image-size", 6, "--layers", 2, "--quiet", "-o", tmp_path / "rf.png"]
    assert cli(*argv, "--model", "lmconv", "--order", "snake") == 0
    assert "lmconv, 2 layers, order snake: pixel (3, 3) channel 0 depends on" in capsys.readouterr().out
    assert cli(*argv, "--model", "lmconv,pixelcnn", "--order", "snake") == 2
    assert "'pixelcnn' generates in raster order only" in one_error(capsys)  # before any model is measured
    model = tiny("lmconv", (1, 5, 5), 2)
    field = receptive_field(model, (2, 2), order="column-br")
    assert torch.equal(field.past[0], make_order("column-br", 5, 5).ranks < make_order("column-br", 5, 5).ranks[2, 2])
    assert field.outside_past == 0 and field.coverage > 0
