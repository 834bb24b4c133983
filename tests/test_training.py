"""Training, exact resume, evaluation and the CLI end to end on tiny configurations."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

import pixelar
from helpers import TINY
from helpers import tiny_train_config as _config
from pixelar.checkpoint import torch_load_safe
from pixelar.cli import main
from pixelar.data import get_dataset
from pixelar.errors import PixelarError
from pixelar.evaluation import evaluate
from pixelar.training import TrainConfig, Trainer, train
from pixelar.training.base import ema_decay


def _losses(run_dir) -> list[float]:
    recs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["train_loss"] for r in recs if "train_loss" in r]


@pytest.mark.parametrize(
    "model,ema,perturb", [("pixelcnn", 0.0, 0.0), ("pixelcnn++", 0.9, 0.0), ("gated-pixelcnn", 0.0, 0.3)]
)
def test_resume_gives_the_same_loss_sequence(tmp_path, model, ema, perturb):
    args = {"num_layers": 1, "hidden_channels": 4}
    full = tmp_path / "full"
    train(_config(model=model, model_args=args, ema=ema, perturb=perturb), full, progress=False)
    part = tmp_path / "part"
    train(_config(model=model, model_args=args, ema=ema, perturb=perturb, steps=3), part, progress=False)
    # Simulate a crash after the checkpoint: a stale metric that the resume must drop, and a
    # line cut short by the kill (which used to crash the resume with a JSONDecodeError).
    with open(part / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 4, "train_loss": 123.0}) + "\n" + '{"step": 5, "train_lo')
    torch.manual_seed(12345)  # whatever the random state before resuming: each step seeds its own (dropout)
    train(_config(model=model, model_args=args, ema=ema, perturb=perturb, steps=6), part, resume=True, progress=False)
    assert _losses(full) == _losses(part) and len(_losses(full)) == 6
    a, b = pixelar.load(full), pixelar.load(part)
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k


def test_sigterm_stops_after_its_step_with_a_checkpoint_to_resume(tmp_path, monkeypatch):
    """A SIGTERM in the middle of a run (how torchrun and schedulers end a job) stops it after
    the step it arrived in: the checkpoint of that step is written, one error line says how to
    continue, the handler there was before is back, and the resumed run ends as an
    uninterrupted one does."""
    full, part = tmp_path / "full", tmp_path / "part"
    train(_config(), full, progress=False)
    step = Trainer.train_step

    def step_then_sigterm(self, *args, **kwargs):
        loss = step(self, *args, **kwargs)
        if self.step == 1:  # the second step
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    monkeypatch.setattr(Trainer, "train_step", step_then_sigterm)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(PixelarError, match=r"^SIGTERM stopped the run at step 2; .*resume_run\(") as stopped:
        train(_config(), part, progress=False)
    assert "\n" not in str(stopped.value)
    assert signal.getsignal(signal.SIGTERM) is before
    monkeypatch.undo()
    assert torch_load_safe(part / "checkpoint.pt")["step"] == 2
    train(_config(), part, resume=True, progress=False)
    assert _losses(part) == _losses(full) and len(_losses(full)) == 6


def test_training_lowers_the_test_nll(tmp_path):
    test = get_dataset("digits-binary", "test").subset(64)
    trainer = Trainer(
        _config(steps=60, model_args={"num_layers": 1, "hidden_channels": 8}, lr=3e-3), tmp_path, progress=False
    )
    before = trainer.evaluate(test)
    trainer.fit()
    after = trainer.evaluate(test)
    assert after < before - 50, (before, after)


def test_ema_is_what_is_saved_and_evaluated(tmp_path):
    trainer = Trainer(_config(steps=5, ema=0.5, lr=1e-2), tmp_path, progress=False)
    trainer.fit()
    saved = pixelar.load(tmp_path)
    raw, avg = trainer.model.state_dict(), trainer.ema.state_dict()
    assert any(not torch.equal(raw[k], avg[k]) for k in raw)
    for k, v in saved.state_dict().items():
        assert torch.equal(v, avg[k]), k


def test_ema_warms_up(tmp_path):
    """The first update keeps a tenth of the initial weights, not ema = 0.999 of them."""
    trainer = Trainer(_config(steps=1, ema=0.999, lr=1e-2), tmp_path, progress=False)
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    after = trainer.model.state_dict()
    for k, v in trainer.ema.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.1 * initial[k] + 0.9 * after[k])
    assert ema_decay(0.999, 9000) == 0.999 and ema_decay(0.999, 8900) < 0.999


def test_conditional_samples_differ_per_class(tmp_path):
    """A conditional model trained briefly on digits 0 and 1 draws different digits per label:
    its 0s carry much more ink than its 1s, as the data's do (Mann-Whitney U, p < 0.01)."""
    from scipy.stats import mannwhitneyu

    data = get_dataset("digits-binary", "train")
    keep = data.labels < 2
    images, labels = data.images[keep], data.labels[keep]
    torch.manual_seed(0)
    model = pixelar.create_model(
        "pixelcnn", image_shape=(1, 28, 28), num_levels=2, num_layers=2, hidden_channels=16, num_classes=2
    )
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        idx = torch.randint(0, len(images), (32,), generator=g)
        loss = -model.log_prob(images[idx], labels[idx]).mean() / 784
        opt.zero_grad()
        loss.backward()
        opt.step()
    cond = torch.tensor([0, 1] * 16)
    ink = model.sample(32, cond=cond, generator=0).flatten(1).sum(1).float()
    zeros, ones = ink[cond == 0], ink[cond == 1]
    assert zeros.mean() > 1.3 * ones.mean()
    assert mannwhitneyu(zeros.numpy(), ones.numpy(), alternative="greater").pvalue < 0.01


def test_refuses_to_overwrite_a_run(tmp_path):
    train(_config(steps=2), tmp_path, progress=False)
    with pytest.raises(pixelar.PixelarError, match="pass resume=True"):
        train(_config(steps=2), tmp_path, progress=False)


def test_conditional_training(tmp_path):
    train(_config(steps=2, conditional=True, num_samples=2), tmp_path, progress=False)
    model = pixelar.load(tmp_path)
    assert model.num_classes == 10 and (tmp_path / "samples.png").exists()


def test_eval_includes_the_last_partial_batch():
    model = pixelar.create_model("pixelcnn", image_shape=(1, 28, 28), num_levels=2, **TINY)
    data = get_dataset("digits-binary", "test").subset(37)
    nll = evaluate(model, data, batch_size=16)
    with torch.no_grad():
        expected = -model.log_prob(data.images).double().mean().item()
    assert nll.count == 37 and abs(nll.nats_per_image - expected) < 1e-3
    assert abs(nll.bits_per_dim - expected / (784 * 0.6931471805599453)) < 1e-6


def test_loss_curve_plots_subset_and_final_evaluations_apart(tmp_path):
    """loss.png: the evaluations during training (on eval_images test images) and the final one
    on the whole test split are separate, labelled series."""
    from pixelar.plotting import loss_series

    train(_config(steps=4, eval_every=2, eval_images=8), tmp_path, progress=False)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    tests = [r for r in records if "test_loss" in r]
    assert [(r["step"], r["test_images"], r.get("final", False)) for r in tests] == [(2, 8, False), (4, 500, True)]
    series = loss_series(tmp_path / "metrics.jsonl")
    assert list(series) == [
        "train (batch mean)",
        "test during training (8 images)",
        "final test, whole split (500 images)",
    ]
    assert [s for s, _ in series["train (batch mean)"]] == [1, 2, 3, 4]
    assert series["test during training (8 images)"] == [(2, tests[0]["test_loss"])]
    assert series["final test, whole split (500 images)"] == [(4, tests[1]["test_loss"])]
    assert (tmp_path / "loss.png").stat().st_size > 1000


def test_demo_preset_is_a_fixed_number_of_steps():
    """The demo's printed NLL must not depend on the machine's load: steps, not a time budget."""
    from pixelar.presets import get_preset

    demo = get_preset("demo")
    assert demo.get("max_minutes") is None and 500 <= demo["steps"] <= 5000
    TrainConfig(**demo).validate()


@pytest.mark.parametrize(
    "change,message",
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"log_every": 0}, "log_every must be a positive integer"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"steps": "10"}, "steps must be a positive integer"),
        ({"model_args": {"num_levels": 4}}, "comes from the data"),
    ],
)
def test_train_config_is_validated_before_any_data_is_loaded(tmp_path, change, message):
    with pytest.raises(pixelar.PixelarError, match=message):
        train(_config(data="no-such-dataset", **change), tmp_path, progress=False)


def run_cli(*args: str) -> int:
    return main([str(a) for a in args])


def test_cli_train_eval_sample(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        run_cli(
            "train",
            "--data",
            "digits-binary",
            "--num-layers",
            "1",
            "--hidden-channels",
            "4",
            "--steps",
            "4",
            "--batch-size",
            "8",
            "--eval-every",
            "2",
            "--eval-images",
            "8",
            "--num-samples",
            "4",
            "--out",
            run,
            "--quiet",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "nats/image" in out
    for name in ("samples.png", "loss.png", "metrics.jsonl", "checkpoint.pt", "model/model.safetensors"):
        assert (run / name).exists(), name
    assert run_cli("train", "--resume", run, "--steps", "6", "--quiet") == 0
    assert run_cli("eval", run, "--quiet", "--json") == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == 500 and result["nats_per_image"] > 0
    assert run_cli("sample", run, "-n", "3", "-o", tmp_path / "s.png", "--npy", tmp_path / "s.npy", "--quiet") == 0
    import numpy as np

    s = np.load(tmp_path / "s.npy")
    assert s.shape == (3, 1, 28, 28) and set(np.unique(s)) <= {0, 1}
    assert run_cli("eval", run / "model", "--data", "digits-binary", "--quiet") == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--model", "pixelgan"], "unknown model 'pixelgan'"),
        (["train", "--data", "nope", "--steps", "1"], "unknown dataset 'nope'"),
        (["train", "--model-arg", "depth=3"], "no hyperparameter depth"),
        (["train", "--preset", "nope"], "unknown preset"),
        (["train", "--device", "cuda:0", "--steps", "1"], "CUDA is not available"),
        (["sample", "/nonexistent/run"], "does not exist"),
    ],
)
def test_cli_user_errors_are_one_line(args, message, capsys):
    if "CUDA" in message and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err and "Traceback" not in err


def test_cli_eval_with_wrong_size_data_and_corrupt_checkpoint(tmp_path, capsys):
    model = pixelar.create_model("pixelcnn", image_shape=(3, 32, 32), num_levels=256, **TINY)
    model.save_pretrained(tmp_path / "m")
    assert run_cli("eval", tmp_path / "m", "--data", "digits", "--quiet") == 2
    assert "model expects 3×32×32" in capsys.readouterr().err
    model = pixelar.create_model("pixelcnn", image_shape=(1, 28, 28), num_levels=256, **TINY)
    model.save_pretrained(tmp_path / "m8")
    assert run_cli("eval", tmp_path / "m8", "--data", "digits-binary", "--quiet") == 2
    assert "levels" in capsys.readouterr().err
    (tmp_path / "m8" / "model.safetensors").write_bytes(b"\x00" * 10)
    assert run_cli("sample", tmp_path / "m8", "--quiet") == 2
    assert "corrupt or truncated" in capsys.readouterr().err


def test_cli_resume_with_corrupt_checkpoint(tmp_path, capsys):
    train(_config(steps=2), tmp_path, progress=False)
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    assert run_cli("train", "--resume", tmp_path, "--steps", "4", "--quiet") == 2
    assert "corrupt or truncated" in capsys.readouterr().err


def test_cli_missing_dataset_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PIXELAR_OFFLINE", "1")
    pixelar.create_model("pixelcnn", image_shape=(1, 28, 28), num_levels=2, **TINY).save_pretrained(tmp_path / "m")
    assert run_cli("eval", tmp_path / "m", "--data", "binarized-mnist", "--data-dir", tmp_path / "data", "--quiet") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "binarized_mnist_test.amat is missing" in err and "put it there" in err


def test_missing_plots_extra_is_one_line_and_training_still_completes(tmp_path, monkeypatch):
    """Without matplotlib (the optional [plots] extra) the loss curve is refused in one line
    naming the extra, and a training run still finishes with its model and metrics."""
    import sys

    from pixelar.plotting import save_loss_curve

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    (tmp_path / "m.jsonl").write_text('{"step": 1, "loss": 1.0, "unit": "nats"}\n')
    with pytest.raises(pixelar.PixelarError, match=r"pixelar\[plots\]"):
        save_loss_curve(tmp_path / "m.jsonl", tmp_path / "loss.png", "nats")
    with pytest.warns(UserWarning, match="loss.png not drawn"):
        train(_config(steps=2, checkpoint_every=0), tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "model" / "model.safetensors").exists() and not (tmp_path / "run" / "loss.png").exists()
