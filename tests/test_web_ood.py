"""The web page's OOD score panel (POST /api/ood, pixelar.web.ood): an image's scores as
pixelar.ood gives them, beside their histograms over the model's training images (computed
once per model), and the image's scores alone, with a note, where that data cannot be read.
The page itself is driven in a browser in test_web.py."""

from __future__ import annotations

import io
import math
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import pixelar
from helpers import tiny, tiny_train_config
from pixelar.data import get_dataset
from pixelar.ood import complexity_bits, estimate_entropy, score
from pixelar.pretrained import pretrained_dir
from pixelar.web.limits import Limits

pytest.importorskip("starlette", reason="the web app needs the web extra: pip install 'pixelar[web]'")
pytest.importorskip("httpx2", reason="Starlette's test client needs httpx2: pip install -e '.[dev]'")
from starlette.testclient import TestClient

from pixelar.web import create_app

pytestmark = pytest.mark.usefixtures("one_thread")  # (conftest)

N = 120  # the reference's training images here (500 in the app by default)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict:
    """The models served by name: the pretrained digits-binary model; a run of a
    class-conditional tiny model on the binary digits; a saved model (no run: no data); and a
    run on MNIST whose data directory is empty (its data cannot be read offline)."""
    root = tmp_path_factory.mktemp("ood")
    (root / "cond").mkdir()
    (root / "cond" / "train_config.json").write_text(tiny_train_config(conditional=True).to_json())
    tiny("pixelcnn", image_shape=(1, 28, 28), num_levels=2, num_classes=10, seed=4).save_pretrained(
        root / "cond" / "model"
    )
    tiny("pixelcnn", image_shape=(1, 8, 8), num_levels=2).save_pretrained(root / "saved")
    (root / "offline").mkdir()
    (root / "empty").mkdir()
    config = tiny_train_config(data="mnist", data_dir=str(root / "empty"))
    (root / "offline" / "train_config.json").write_text(config.to_json())
    tiny("pixelcnn", image_shape=(1, 28, 28), num_levels=256).save_pretrained(root / "offline" / "model")
    return {
        "digits-binary": pretrained_dir("digits-binary"),
        "cond": root / "cond",
        "saved": root / "saved",
        "offline": root / "offline",
    }


@pytest.fixture(scope="module")
def client(served):
    app = create_app(served, limits=Limits(rate=0), ood_images=N)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def no_download(monkeypatch):
    """Any download of a dataset fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the OOD panel downloaded a dataset")

    monkeypatch.setattr("pixelar.data.download._download", refuse)


def png(levels: np.ndarray, num_levels: int = 2) -> bytes:
    """An 8-bit PNG of level indices [H, W]."""
    buffer = io.BytesIO()
    Image.fromarray((levels * (255 // (num_levels - 1))).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def ood(client: TestClient, model: str, image: np.ndarray, **params) -> dict:
    response = client.post("/api/ood", params={"model": model, "filename": "x.png", **params}, content=png(image))
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response) -> str:
    assert 400 <= response.status_code < 500, response.text
    message = response.json()["error"]
    assert "\n" not in message and "Traceback" not in message, message
    return message


def test_an_images_scores_beside_the_training_images(client, no_download):
    model = pixelar.load("digits-binary")
    x = get_dataset("digits-binary", "test").images[:1].long()
    body = ood(client, "digits-binary", x[0, 0].numpy())
    nll = float(-model.log_prob(x).detach()[0])
    assert body["nll_nats"] == pytest.approx(nll, rel=1e-4)
    assert body["bits_per_dim"] == pytest.approx(nll / (28 * 28 * math.log(2)), rel=1e-4)
    png_bits = float(complexity_bits(x, 2, "png")[0])
    assert body["png_bits"] == png_bits
    assert body["corrected_png_bits"] == pytest.approx(nll / math.log(2) - png_bits, rel=1e-4)
    ref = body["reference"]
    assert body["note"] is None and ref["data"] == "digits-binary" and ref["split"] == "train" and ref["images"] == N

    # the reference: the library's scores of the first N training images
    train = get_dataset("digits-binary", "train").subset(N)
    assert ref["entropy_nats"] == pytest.approx(estimate_entropy(model, train), rel=1e-9)
    assert body["typicality_nats"] == pytest.approx(abs(nll - ref["entropy_nats"]), rel=1e-4, abs=1e-6)
    expected = score(model, train, complexity="png", entropy=ref["entropy_nats"])
    values = {
        "bits_per_dim": expected.bits_per_dim,
        "corrected_png_bits": expected.corrected["png"],
        "typicality_nats": expected.typicality,
    }
    assert set(ref["scores"]) == set(values)
    for key, reference in values.items():
        hist, v = ref["scores"][key], reference.numpy()
        assert sum(hist["counts"]) == N and len(hist["edges"]) == len(hist["counts"]) + 1
        assert hist["edges"][0] == pytest.approx(v.min(), abs=1e-5) and hist["edges"][-1] == pytest.approx(
            v.max(), abs=1e-5
        )
        assert np.array_equal(np.histogram(v, bins=len(hist["counts"]))[0], hist["counts"])
        share = 100 * (np.sum(v < body[key]) + 0.5 * np.sum(v == body[key])) / N
        assert 0 <= hist["percentile"] <= 100 and hist["percentile"] == pytest.approx(share, abs=0.01)
        assert hist["mean"] == pytest.approx(v.mean(), rel=1e-9)


def test_noise_lies_past_every_training_image(client):
    noise = (np.random.default_rng(0).random((28, 28)) > 0.5).astype(np.uint8)
    body = ood(client, "digits-binary", noise)
    scores = body["reference"]["scores"]
    assert scores["bits_per_dim"]["percentile"] == 100 and scores["typicality_nats"]["percentile"] == 100
    assert body["bits_per_dim"] > scores["bits_per_dim"]["edges"][-1]


def test_the_reference_is_computed_once_per_model(served, monkeypatch):
    import pixelar.web.ood as web_ood

    calls: list[int] = []
    library_score = web_ood.score

    def counted(model, images, *args, **kwargs):
        calls.append(len(images))
        return library_score(model, images, *args, **kwargs)

    monkeypatch.setattr(web_ood, "score", counted)
    app = create_app({"cond": served["cond"]}, limits=Limits(rate=0), ood_images=N)
    image = get_dataset("digits-binary", "test").images[0, 0].numpy()
    with TestClient(app) as c:
        wrong = c.post("/api/ood", params={"label": 1, "filename": "small.png"}, content=png(np.zeros((8, 8), int)))
        assert error_of(wrong) == "small.png is 8×8 but the model expects 28×28; resize it first"
        assert calls == []  # a refused upload computes nothing
        replies: list = []

        def ask(label: int) -> None:
            replies.append(ood(c, "cond", image, label=label))

        # two at once: the second waits for the model, then finds the reference
        threads = [threading.Thread(target=ask, args=(k,)) for k in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        replies.append(ood(c, "cond", image, label=3))
    assert sorted(calls) == [1, 1, 1, N]  # each image, and the training images once
    histograms = [{k: (h["edges"], h["counts"]) for k, h in r["reference"]["scores"].items()} for r in replies]
    assert len(histograms) == 3 and histograms[0] == histograms[1] == histograms[2]


def test_a_class_conditional_model_scores_the_class_asked_for(client, served):
    model = pixelar.load(served["cond"] / "model")
    x = get_dataset("digits-binary", "test").images[:1].long()
    body = ood(client, "cond", x[0, 0].numpy(), label=7)
    assert body["nll_nats"] == pytest.approx(float(-model.log_prob(x, torch.tensor([7])).detach()[0]), rel=1e-4)
    assert body["reference"]["images"] == N  # the training images with their own labels
    response = client.post("/api/ood", params={"model": "cond"}, content=png(x[0, 0].numpy()))
    assert "choose a class from 0 to 9" in error_of(response)


@pytest.mark.parametrize(
    ("model", "size", "words"),
    [
        ("saved", 8, "this model is not a training run, so it names no training data"),
        ("offline", 28, "no reference: mnist could not be read"),
    ],
)
def test_without_the_training_data_the_scores_come_alone_with_a_note(client, served, no_download, model, size, words):
    image = np.random.default_rng(1).integers(0, 2, (size, size))
    body = ood(client, model, image)
    assert body["reference"] is None and body["typicality_nats"] is None
    assert words in body["note"] and "\n" not in body["note"]
    loaded = pixelar.load(served[model] if model == "saved" else served[model] / "model")
    x = torch.from_numpy(image).long()[None, None]
    if model == "offline":
        x = x * 255  # the 256-level model reads the PNG's 0 and 255 as they are
    assert body["nll_nats"] == pytest.approx(float(-loaded.log_prob(x).detach()[0]), rel=1e-4)
    assert ood(client, model, image)["note"] == body["note"]  # the reason is kept too


def test_bad_requests_get_one_line(client):
    for params, body, words in [
        ({"model": "digits-binary"}, png(np.zeros((27, 28), int)), "x.png is 28×27 but the model expects 28×28"),
        ({"model": "digits-binary"}, b"not an image", "x.png is not an image"),
        ({"model": "digits-binary", "label": 1}, png(np.zeros((28, 28), int)), "this model is unconditional"),
        ({"model": "nope"}, png(np.zeros((28, 28), int)), "no model called 'nope'"),
    ]:
        response = client.post("/api/ood", params={"filename": "x.png", **params}, content=body)
        assert response.status_code == 400 and words in error_of(response)


def test_the_page_has_the_panel(client):
    page = client.get("/").text
    assert 'id="ood"' in page and "<h2>OOD score</h2>" in page and 'id="ood-histogram"' in page
    assert "/api/ood" in client.get("/static/app.js").text
