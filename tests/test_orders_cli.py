"""Orders on the command line: train --orders (order-agnostic training), and the refusals."""

from __future__ import annotations

import pytest

from pixelar.cli import main
from pixelar.cli.parser import build_parser
from pixelar.cli.train import new_run_config


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
