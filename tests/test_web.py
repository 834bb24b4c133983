"""The web app (pixelar serve): its endpoints through Starlette's test client, watched sampling
for every model family, the limits on input, and the page in a real headless Chromium (skipped,
with the reason, where Chromium, its driver or Selenium is missing)."""

from __future__ import annotations

import base64
import importlib
import io
import itertools
import json
import math
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixelar
from helpers import MODELS, tiny, tiny_train_config
from pixelar.cli import main
from pixelar.completion import complete, rows_mask
from pixelar.errors import PixelarError
from pixelar.orders import known_first
from pixelar.sampling import sample
from pixelar.web.catalog import find_models
from pixelar.web.limits import Limits, RateLimiter
from pixelar.web.watch import Frame, SamplingStoppedError, watch_sample

pytest.importorskip("starlette", reason="the web app needs the web extra: pip install 'pixelar[web]'")
pytest.importorskip("httpx2", reason="Starlette's test client needs httpx2: pip install -e '.[dev]'")
from starlette.testclient import TestClient

from pixelar.web import BackgroundServer, create_app

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest)

ARTIFACTS = Path(__file__).resolve().parents[1] / "runs" / "test-artifacts" / "web"


# -- models and files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A directory of servable models: a run directory of the bundled binary digits (1×28×28;
    its configuration and a saved model, untrained), a binary 8×8 PixelCNN, a class-conditional
    one (3 classes) and a 4-level RGB Gated PixelCNN (6×6); and a file that is no model."""
    root = tmp_path_factory.mktemp("served")
    (root / "run").mkdir()
    (root / "run" / "train_config.json").write_text(tiny_train_config().to_json())
    tiny("pixelcnn", image_shape=(1, 28, 28), num_levels=2).save_pretrained(root / "run" / "model")
    tiny("pixelcnn", image_shape=(1, 8, 8), num_levels=2).save_pretrained(root / "binary")
    tiny("pixelcnn", image_shape=(1, 8, 8), num_levels=2, num_classes=3, seed=1).save_pretrained(root / "cond")
    tiny("gated-pixelcnn", image_shape=(3, 6, 6), num_levels=4, seed=2).save_pretrained(root / "more" / "rgb")
    (root / "notes.txt").write_text("not a model")
    return root


@pytest.fixture(scope="module")
def client(models):
    app = create_app(models, limits=Limits(rate=0, max_upload_bytes=64 * 1024), frame_interval=0)
    with TestClient(app) as test_client:
        yield test_client


def png(arr: np.ndarray) -> bytes:
    """An 8-bit PNG of ``arr`` [H, W] (greyscale) or [H, W, 3]."""
    buffer = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def binary_image(seed: int = 0, size: tuple[int, int] = (8, 8)) -> np.ndarray:
    return (np.random.default_rng(seed).random(size) > 0.5).astype(np.uint8)


def error_of(response) -> str:
    """The one-line error of a refused request (never a traceback)."""
    assert response.status_code >= 400, response.text
    message = response.json()["error"]
    assert "\n" not in message and "Traceback" not in message and 'File "' not in message, message
    return message


def events(client: TestClient, **params) -> list[tuple[str, dict]]:
    """The Server-Sent Events of one sampling stream, as (kind, payload)."""
    out = []
    with client.stream("GET", "/api/sample", params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for block in response.read().decode().split("\n\n"):
            if block.strip():
                kind = block.split("\n")[0].removeprefix("event: ")
                out.append((kind, json.loads(block.split("\n")[1].removeprefix("data: "))))
    return out


# -- the catalogue of models --------------------------------------------------------------------


def test_a_directory_serves_every_model_in_it_and_info_describes_them(models, client):
    assert sorted(find_models(models)) == ["binary", "cond", "more/rgb", "run"]
    assert list(find_models(models / "binary")) == ["binary"]
    info = client.get("/api/info").json()
    described = {m["name"]: m for m in info["models"]}
    assert described["more/rgb"] == {
        "name": "more/rgb",
        "model": "gated-pixelcnn",
        "image_shape": [3, 6, 6],
        "num_levels": 4,
        "num_classes": 0,
        "any_order": False,
        "orders": ["raster"],
    }
    assert described["cond"]["num_classes"] == 3 and described["run"]["image_shape"] == [1, 28, 28]
    assert info["limits"]["max_upload_bytes"] == 64 * 1024


def test_paths_that_serve_nothing_are_refused_clearly(tmp_path, models):
    with pytest.raises(PixelarError, match="holds no training run or saved model"):
        find_models(tmp_path)
    with pytest.raises(PixelarError, match="does not exist"):
        find_models(tmp_path / "missing")
    with pytest.raises(PixelarError, match="is a file"):
        find_models(models / "notes.txt")
    (tmp_path / "train_config.json").write_text("{}")
    with pytest.raises(PixelarError, match="no saved model yet"):
        find_models(tmp_path)


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="canvas"' in page.text and "/static/app.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from the internet
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "/api/sample" in script.text
    for name in ("common.js", "canvas.js"):  # the page's other scripts, loaded before app.js
        assert f"/static/{name}" in page.text.split("/static/app.js")[0]
        assert "javascript" in client.get(f"/static/{name}").headers["content-type"]
    assert client.get("/static/style.css").status_code == 200
    for name in ("../app.py", "..%2Fapp.py", "page.html.bak", "%2e%2e%2f__init__.py"):
        assert client.get(f"/static/{name}").status_code == 404


# -- watched sampling ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_watched_sampling_draws_the_images_sample_draws_one_sub_pixel_at_a_time(name):
    model = tiny(name, image_shape=(3, 4, 4), num_levels=4)
    frames: list[Frame] = []
    out = watch_sample(model, 3, frames.append, generator=7, temperature=0.8, every=0)
    assert torch.equal(out, sample(model, 3, generator=7, temperature=0.8))
    assert frames[-1].done and torch.equal(frames[-1].images, out) and frames[-1].filled == 1.0
    assert sum(f.done for f in frames) == 1
    steps = frames[:-1]
    assert len(steps) >= 4 * 4  # at least one frame per pixel front
    for before, after in itertools.pairwise(steps):
        assert (after.drawn >= before.drawn).all() and after.filled > before.filled  # only ever more
    for frame in steps:  # a drawn sub-pixel never changes; the others are still 0
        assert torch.equal(frame.images[frame.drawn], out[frame.drawn])
        assert (frame.images[~frame.drawn] == 0).all()


def test_watched_sampling_stops_when_asked():
    model = tiny("pixelcnn", image_shape=(1, 8, 8), num_levels=2)
    frames: list[Frame] = []
    with pytest.raises(SamplingStoppedError):
        watch_sample(model, 2, frames.append, every=0, should_stop=lambda: len(frames) >= 3)
    assert len(frames) == 3 and not frames[-1].done


def test_the_sample_stream_ends_with_the_full_image(client, models):
    got = events(client, model="binary", n=3, seed=5, temperature=0.9)
    kinds = [kind for kind, _ in got]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"frame"} and len(kinds) > 2
    filled = [payload["filled"] for _, payload in got]
    assert all(a < b for a, b in itertools.pairwise(filled)) and filled[-1] == 1.0
    expected = pixelar.load(models / "binary").sample(3, generator=5, temperature=0.9)
    assert got[-1][1]["images"] == expected.tolist()
    picture = Image.open(io.BytesIO(base64.b64decode(got[-1][1]["image"].split(",", 1)[1])))
    assert picture.size == (2 * 8 + 3, 2 * 8 + 3)  # a 2×2 grid of 8×8 images, 1-pixel borders


def test_a_conditional_model_samples_the_class_asked_for(client, models):
    got = events(client, model="cond", n=2, seed=1, label=2)
    expected = pixelar.load(models / "cond").sample(2, cond=torch.tensor([2, 2]), generator=1)
    assert got[-1][1]["images"] == expected.tolist()
    assert "choose a class from 0 to 2" in error_of(client.get("/api/sample", params={"model": "cond"}))
    assert "between 0 and 2" in error_of(client.get("/api/sample", params={"model": "cond", "label": 3}))


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"temperature": "hot"}, "temperature must be a number"),
        ({"temperature": "0"}, "temperature must lie between"),
        ({"temperature": "nan"}, "temperature must lie between"),
        ({"n": "1000"}, "n must lie between 1 and 16"),
        ({"n": "2.5"}, "n must be a whole number"),
        ({"label": "1"}, "this model is unconditional"),
        ({"model": "../binary"}, "no model called '../binary'"),
        ({"model": ""}, "choose a model"),
    ],
)
def test_bad_sampling_requests_get_one_line(client, params, words):
    response = client.get("/api/sample", params={"model": "binary", **params})
    assert response.status_code == 400 and words in error_of(response)


def test_a_client_that_leaves_stops_its_sampler(tmp_path):
    import httpx2

    tiny("pixelcnn", image_shape=(1, 128, 128), num_levels=2).save_pretrained(tmp_path / "big")
    app = create_app(tmp_path / "big", frame_interval=0)  # 16 images, a frame per step: a minute's work
    entry = app.state.catalog.entry(None)
    with BackgroundServer(app) as url:
        with httpx2.stream("GET", url + "/api/sample", params={"n": 16}, timeout=30) as response:
            assert next(line for line in response.iter_lines() if line) == "event: frame"
            assert entry.lock.locked()  # sampling
        deadline = time.monotonic() + 10
        while any(t.name == "pixelar-sample" for t in threading.enumerate()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(t.name == "pixelar-sample" for t in threading.enumerate())
        assert not entry.lock.locked()


# -- completion, bits, compression --------------------------------------------------------------


def test_complete_keeps_the_top_rows_and_draws_the_rest_as_the_library_does(client, models):
    image = binary_image(3)
    response = client.post(
        "/api/complete",
        params={"model": "binary", "keep_rows": 3, "n": 2, "seed": 4, "filename": "top.png"},
        content=png(image * 255),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    got = torch.tensor(body["completions"])
    model = pixelar.load(models / "binary")
    x = torch.from_numpy(image).long()[None, None]
    assert torch.equal(got, complete(model, x, rows_mask((1, 8, 8), 3), n=2, generator=4)[0])
    assert (got[:, 0, :3] == x[0, 0, :3]).all() and body["keep_rows"] == 3
    assert body["image"].startswith("data:image/png;base64,")


def test_bits_are_each_pixels_negative_log2_likelihood_at_any_size(client, models):
    model = pixelar.load(models / "binary")
    for size in ((8, 8), (5, 11)):
        image = binary_image(1, size)
        response = client.post("/api/bits", params={"model": "binary", "filename": "x.png"}, content=png(image * 255))
        assert response.status_code == 200, response.text
        body = response.json()
        x = torch.from_numpy(image).long()[None, None]
        with model.at_size(*size):
            expected = -model.log_prob(x, reduction="none")[0, 0].detach() / math.log(2)
        assert np.allclose(body["bits"], expected.numpy(), atol=2e-3)
        assert body["total_bits"] == pytest.approx(float(expected.sum()), rel=1e-9)
        assert (body["height"], body["width"]) == size
        figure = Image.open(io.BytesIO(base64.b64decode(body["image"].split(",", 1)[1])))
        assert figure.format == "PNG" and figure.width > 300  # the image beside its heat map (bits_figure)


@pytest.mark.parametrize(
    ("model", "images", "params"),
    [
        ("binary", [binary_image(0) * 255], {}),
        ("binary", [binary_image(2, (13, 7)) * 255], {}),
        ("cond", [binary_image(4) * 255], {"label": 1}),
        ("more/rgb", [np.random.default_rng(1).integers(0, 4, (6, 6, 3)) * 85], {}),
    ],
)
def test_compress_then_decompress_restores_the_image_exactly(client, models, model, images, params):
    loaded = pixelar.load(models / model)
    response = client.post(
        "/api/compress", params={"model": model, "filename": "pic.png", **params}, content=png(images[0])
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == 'attachment; filename="pic.pxz"'
    summary = json.loads(response.headers["x-pixelar-summary"])
    assert summary["bytes"] == len(response.content) and summary["images"] == 1
    levels = torch.from_numpy(images[0] // (255 // (loaded.num_levels - 1))).long()
    levels = levels[None] if levels.dim() == 2 else levels.permute(2, 0, 1)
    assert torch.equal(pixelar.codec.decode_images(loaded, response.content)[0], levels)  # the library reads it
    restored = client.post("/api/decompress", params={"model": model, "filename": "pic.pxz"}, content=response.content)
    assert restored.status_code == 200, restored.text
    assert restored.json()["levels"] == [levels.tolist()]
    assert restored.json()["labels"] == ([params["label"]] if params else None)


def test_a_pxz_file_of_several_images_from_an_npy_upload(client, models):
    arr = np.random.default_rng(0).integers(0, 2, (3, 1, 8, 8)).astype(np.uint8)
    buffer = io.BytesIO()
    np.save(buffer, arr)
    packed = client.post("/api/compress", params={"model": "binary"}, content=buffer.getvalue())
    assert packed.status_code == 200, packed.text
    assert packed.headers["content-disposition"] == 'attachment; filename="images.pxz"'
    restored = client.post("/api/decompress", params={"model": "binary"}, content=packed.content).json()
    assert restored["levels"] == arr.tolist() and len(restored["images"]) == 3


# -- bad input ---------------------------------------------------------------------------------


def _huge_dimensions_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (4000, 4000)).save(buffer, format="PNG")  # a few KiB, 16 million pixels
    return buffer.getvalue()


def _ico() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="ICO")  # an ICO may embed a larger PNG than it says
    return buffer.getvalue()


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A .npy file's header alone: it promises an array the bytes do not hold."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("endpoint", "params", "body", "words"),
    [
        ("bits", {}, b"hello, I am text", "x.png is not an image"),
        ("bits", {}, b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n", "x.png is not an image"),  # Ghostscript
        ("bits", {}, _ico(), "x.png is not an image"),
        ("compress", {}, _npy_header((10**9, 1, 0, 28)), "has shape [1000000000, 1, 0, 28]"),
        ("compress", {}, _npy_header((10**6, 1, 8, 8)), "holds 1000000 images, more than the limit"),
        ("bits", {}, b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "x.png is not an image"),
        ("bits", {}, b"", "the upload is empty"),
        ("bits", {}, _huge_dimensions_png(), "is 4000×4000 pixels, more than the limit of 65536"),
        ("bits", {}, png(np.full((8, 8), 100)), "has the 8-bit value 100, which is none of the model's 2 levels"),
        (
            "bits",
            {},
            png(np.stack([np.full((8, 8), 255), np.zeros((8, 8)), np.zeros((8, 8))], axis=-1)),
            "has colour pixels but the model is greyscale",
        ),
        ("complete", {}, png(np.zeros((9, 8))), "x.png is 8×9 but the model expects 8×8"),
        ("complete", {"keep_rows": 9}, png(np.zeros((8, 8))), "keep_rows must be at most the image height 8"),
        ("compress", {"label": 0}, png(np.zeros((8, 8))), "this model is unconditional"),
        ("decompress", {}, b"not a pxz file", "not a pixelar compressed file"),
        ("decompress", {}, b"PX\x04", "the compressed file is truncated"),
    ],
)
def test_bad_uploads_get_one_line_and_the_server_goes_on(client, endpoint, params, body, words):
    response = client.post(f"/api/{endpoint}", params={"model": "binary", "filename": "x.png", **params}, content=body)
    assert response.status_code == 400
    assert words in error_of(response)
    assert client.get("/api/info").status_code == 200


def test_requests_from_other_sites_are_refused(client):
    # what a browser says of a request that a page of another site makes (an <img>, a form, fetch)
    refused = client.get("/api/info", headers={"sec-fetch-site": "cross-site"})
    assert refused.status_code == 403 and "other sites" in error_of(refused)
    assert client.get("/api/info", headers={"sec-fetch-site": "same-origin"}).status_code == 200


def test_the_server_answers_only_to_its_own_host_names(models):
    import http.client

    app = create_app(models / "binary")
    with BackgroundServer(app) as url:
        port = int(url.rsplit(":", 1)[1])
        for host, status in (("evil.example", 400), (f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200)):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/api/info", headers={"Host": host})
            assert connection.getresponse().status == status, host  # DNS rebinding finds a 400
            connection.close()


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(client):
    big = png(np.random.default_rng(0).integers(0, 256, (200, 200)))  # ~40 KiB of noise, then padded
    big += b"\0" * (65 * 1024 - len(big))
    response = client.post("/api/bits", params={"model": "binary"}, content=big)
    assert response.status_code == 413
    assert error_of(response) == "the upload is larger than the limit of 64 KiB; choose a smaller file"

    def chunks():  # no Content-Length: refused while reading
        for _ in range(100):
            yield b"\0" * 4096

    response = client.post("/api/compress", params={"model": "binary"}, content=chunks())
    assert response.status_code == 413 and "larger than the limit" in error_of(response)


def test_the_request_rate_is_limited_per_client(models):
    app = create_app(models / "binary", limits=Limits(rate=0.5, burst=3))
    with TestClient(app) as limited:
        assert [limited.get("/api/info").status_code for _ in range(3)] == [200, 200, 200]
        refused = limited.get("/api/info")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
        assert "too many requests: at most 0.5 a second" in error_of(refused)
        assert limited.get("/").status_code == 200  # the page itself is not counted


def test_the_token_bucket_refills_at_its_rate():
    now = [0.0]
    bucket = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert [bucket.take("a"), bucket.take("a")] == [0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)
    assert bucket.take("b") == 0.0  # another client has its own bucket
    now[0] += 0.5
    assert bucket.take("a") == 0.0 and bucket.take("a") > 0
    now[0] += 100
    assert [bucket.take("a"), bucket.take("a"), bucket.take("a") > 0] == [0.0, 0.0, True]  # never over the burst
    assert RateLimiter(rate=0, burst=1).take("a") == 0.0


def test_filenames_never_become_paths(client, models, tmp_path, monkeypatch):
    workdir = Path(client.app.state.workdir)
    here = tmp_path / "cwd" / "deeper"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    tricks = [
        "../evil.png",
        "../../evil.png",
        "/tmp/evil.png",
        "..\\..\\evil.png",
        "evil/../../../x.png",
        "..",
        "\0.png",
    ]
    before = {p for p in tmp_path.rglob("*")}
    for name in tricks:
        for endpoint in ("bits", "complete", "compress", "decompress"):
            response = client.post(
                f"/api/{endpoint}", params={"model": "binary", "filename": name}, content=png(np.zeros((8, 8)))
            )
            assert response.status_code in (200, 400), response.text
            disposition = response.headers.get("content-disposition", "")
            assert "/" not in disposition and "\\" not in disposition and ".." not in disposition
            assert list(workdir.iterdir()) == []  # the upload's file is gone, and nothing else was made
    assert {p for p in tmp_path.rglob("*")} == before
    assert not Path("/tmp/evil.png").exists() and not list(Path(tempfile.gettempdir()).glob("evil*"))
    assert error_of(client.post("/api/bits", params={"model": "../../binary"}, content=png(np.zeros((8, 8))))) == (
        "no model called '../../binary' is served; choose one of binary, cond, more/rgb, run"
    )


def test_the_temporary_directory_is_removed_when_the_app_stops(models):
    app = create_app(models / "binary")
    workdir = Path(app.state.workdir)
    with TestClient(app) as c:
        assert c.post("/api/bits", content=png(np.zeros((8, 8)))).status_code == 200
        assert workdir.is_dir()
    assert not workdir.exists()


def test_a_server_fault_is_one_line_without_details(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals at /home/someone")

    monkeypatch.setattr("pixelar.codec.encode", broken)
    response = client.post("/api/compress", params={"model": "binary"}, content=png(np.zeros((8, 8))))
    assert response.status_code == 500
    message = error_of(response)
    assert "secret" not in message and "failed on this request" in message
    assert client.get("/api/info").status_code == 200


def test_a_test_image_of_the_runs_dataset(client):
    body = client.get("/api/example", params={"model": "run", "index": 3}).json()
    assert body["index"] == 3 and 0 <= body["label"] <= 9 and body["image"].startswith("data:image/png")
    assert "not a training run" in error_of(client.get("/api/example", params={"model": "binary"}))


def test_without_starlette_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "starlette.applications", None)
    monkeypatch.delitem(sys.modules, "pixelar.web.app", raising=False)
    with pytest.raises(PixelarError, match=r"pip install 'pixelar\[web\]'"):
        importlib.import_module("pixelar.web.app")


# -- orders: sampling in any order, holes anywhere ---------------------------------------------

LM_ORDERS = ["snake", "snake-br"]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory) -> Path:
    """A saved binary 8×8 lmconv model trained (here: randomized) over two orders."""
    path = tmp_path_factory.mktemp("lm") / "lm"
    tiny("lmconv", image_shape=(1, 8, 8), num_levels=2, seed=3, orders=LM_ORDERS).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def orders_client(lm_dir, models):
    app = create_app({"lm": lm_dir, "binary": models / "binary"}, limits=Limits(rate=0), frame_interval=0)
    with TestClient(app) as test_client:
        yield test_client


def hole_bits(hidden: np.ndarray) -> str:
    """The ``hidden`` parameter of a hole (bool [H, W], True: hidden), as the page sends it."""
    return base64.urlsafe_b64encode(np.packbits(hidden.flatten()).tobytes()).decode().rstrip("=")


def centre_hole(size: int = 8) -> np.ndarray:
    hidden = np.zeros((size, size), dtype=bool)
    hidden[2:6, 3:7] = True
    return hidden


def test_info_lists_the_orders_each_model_generates_in(orders_client):
    described = {m["name"]: m for m in orders_client.get("/api/info").json()["models"]}
    lm, binary = described["lm"], described["binary"]
    assert lm["any_order"] and lm["orders"][:2] == LM_ORDERS and {"raster", "hilbert", "random"} <= set(lm["orders"])
    assert len(lm["orders"]) == len(set(lm["orders"]))
    assert not binary["any_order"] and binary["orders"] == ["raster"]


def test_watched_sampling_follows_the_order():
    """Each frame shows exactly the first pixels of the order drawn."""
    model = tiny("lmconv", image_shape=(1, 4, 4), num_levels=2, orders=["snake"])
    frames: list[Frame] = []
    out = watch_sample(model, 2, frames.append, generator=3, every=0, order="hilbert")
    assert torch.equal(out, sample(model, 2, generator=3, order="hilbert"))
    pixels = model.pixel_order("hilbert").pixels
    for step, frame in enumerate(frames[:-1], start=1):
        drawn = frame.drawn[0, 0].flatten()
        assert drawn[pixels[:step]].all() and drawn.sum() == step
    assert model.pixel_order().name == "snake"  # the order was the call's only


def test_the_sample_stream_draws_in_the_order_chosen(orders_client, lm_dir):
    got = events(orders_client, model="lm", n=2, seed=4, order="column")
    assert got[-1][0] == "done" and got[-1][1]["order"] == "column"
    expected = pixelar.load(lm_dir).sample(2, generator=4, order="column")
    assert got[-1][1]["images"] == expected.tolist()
    assert events(orders_client, model="lm", n=1, seed=4)[-1][1]["order"] == LM_ORDERS[0]  # the model's own


@pytest.mark.parametrize(
    "params, words",
    [
        ({"model": "binary", "order": "snake"}, "pixelcnn generates in raster order only; choose raster"),
        ({"model": "lm", "order": "zigzag"}, "unknown order 'zigzag'"),
        ({"model": "lm", "order": "random-x"}, "random"),
    ],
)
def test_an_order_the_model_cannot_take_is_refused_before_sampling(orders_client, params, words):
    response = orders_client.get("/api/sample", params=params)
    assert response.status_code == 400 and words in error_of(response)


def test_a_raster_model_samples_in_raster_when_asked(orders_client, models):
    got = events(orders_client, model="binary", n=1, seed=2, order="raster")
    assert got[-1][1]["order"] == "raster"
    assert got[-1][1]["images"] == pixelar.load(models / "binary").sample(1, generator=2).tolist()


def test_a_hole_anywhere_is_filled_with_the_known_pixels_first(orders_client, lm_dir):
    image = binary_image(7)
    hidden = centre_hole()
    response = orders_client.post(
        "/api/complete",
        params={"model": "lm", "hidden": hole_bits(hidden), "n": 3, "seed": 6, "order": "hilbert"},
        content=png(image * 255),
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["order"] == "known-first hilbert" and body["exact"] and body["keep_rows"] is None
    assert body["hidden_pixels"] == int(hidden.sum())
    completions = torch.tensor(body["completions"])  # [n, C, H, W]
    assert (completions[:, 0][:, ~torch.from_numpy(hidden)] == torch.from_numpy(image)[~torch.from_numpy(hidden)]).all()
    model = pixelar.load(lm_dir)
    x = torch.from_numpy(image).long()[None, None]
    known = torch.from_numpy(~hidden)[None]
    order = known_first(model.pixel_order("hilbert"), known[0])
    assert body["completions"] == complete(model, x, known, n=3, generator=6, order=order)[0].tolist()
    default = orders_client.post(
        "/api/complete", params={"model": "lm", "hidden": hole_bits(hidden), "n": 1}, content=png(image * 255)
    ).json()
    assert default["order"] == f"known-first {LM_ORDERS[0]}"  # the model's own order, known pixels first


def test_a_raster_model_fills_a_hole_in_raster_order_and_says_it_is_not_exact(orders_client, models):
    image = binary_image(8)
    hidden = centre_hole()
    response = orders_client.post(
        "/api/complete",
        params={"model": "binary", "hidden": hole_bits(hidden), "n": 2, "seed": 1},
        content=png(image * 255),
    )
    body = response.json()
    assert body["order"] == "raster" and not body["exact"] and body["hidden_pixels"] == 16
    known = torch.from_numpy(~hidden)[None]
    expected = complete(
        pixelar.load(models / "binary"), torch.from_numpy(image).long()[None, None], known, n=2, generator=1
    )
    assert body["completions"] == expected[0].tolist()
    kept = orders_client.post("/api/complete", params={"model": "lm", "keep_rows": 3, "n": 1}, content=png(image * 255))
    assert kept.json()["keep_rows"] == 3 and kept.json()["order"] == LM_ORDERS[0]  # the top comes first in it
    bottom = np.zeros((8, 8), dtype=bool)
    bottom[:5] = True  # the top hidden: the model's other order, from the bottom right, visits the bottom first
    chosen = orders_client.post(
        "/api/complete", params={"model": "lm", "hidden": hole_bits(bottom), "n": 1}, content=png(image * 255)
    )
    assert chosen.json()["order"] == LM_ORDERS[1] and chosen.json()["exact"]


@pytest.mark.parametrize(
    "params, words",
    [
        ({"hidden": "AAAA"}, "hidden holds 3 bytes, not the 8 of one bit per pixel of a 8×8 image"),
        ({"hidden": hole_bits(np.zeros((8, 8), dtype=bool))}, "the hole is empty"),
        ({"hidden": "a"}, "packed bits in URL-safe base64"),
        ({"hidden": hole_bits(centre_hole()), "keep_rows": 2}, "not both"),
        ({"hidden": hole_bits(centre_hole()), "order": "hilbert", "model": "binary"}, "lmconv"),
    ],
)
def test_a_bad_hole_or_order_gets_one_line(orders_client, params, words):
    response = orders_client.post("/api/complete", params={"model": "lm", **params}, content=png(binary_image(0) * 255))
    assert response.status_code == 400 and words in error_of(response)


def test_requests_in_different_orders_on_one_model_never_mix_their_orders(lm_dir):
    """The order a request sets on the model (in_order) is the model object's; the catalog's
    lock keeps every other request off the model meanwhile, so requests running at once in
    different orders draw what each would draw alone."""
    from pixelar.web.catalog import Catalog
    from pixelar.web.work import Work

    work = Work(Catalog({"lm": lm_dir}, busy_seconds=600), Limits(), Path(tempfile.mkdtemp()), frame_interval=0)
    model = pixelar.load(lm_dir)
    orders = ["raster", "hilbert", "column", "snake-br"] * 2
    expected = [model.sample(2, generator=k, order=order).tolist() for k, order in enumerate(orders)]
    got: dict[int, list] = {}

    def run(k: int, order: str) -> None:
        done: list = []
        claim = work.catalog.claim("lm")  # as the endpoint does: the model held before the work
        work.sample(claim, 2, 1.0, k, None, lambda e: done.append(e), lambda: 0, lambda: False, order)
        got[k] = json.loads(next(data for kind, data in done[:-1] if kind == "done"))["images"]

    threads = [threading.Thread(target=run, args=(k, order)) for k, order in enumerate(orders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[k] for k in range(len(orders))] == expected
    assert work.catalog.entry("lm").model.pixel_order().name == LM_ORDERS[0]  # nothing left set


# -- the command line --------------------------------------------------------------------------


def test_pixelar_serve_refuses_bad_ports_and_paths_in_one_line(models, tmp_path, capsys):
    def one_line(*argv: str) -> str:
        assert main(["serve", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
        return err

    assert one_line(str(models), "--port", "70000") == "error: the --port must be between 1 and 65535, got 70000"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert f"cannot listen on 127.0.0.1:{port}" in one_line(str(models), "--port", str(port))
        assert "pass another --port N" in one_line(str(models), "--port", str(port))
    assert "holds no training run or saved model" in one_line(str(tmp_path))
    assert "is no address of this machine" in one_line(str(models), "--host", "no-such-host.invalid")


def test_pixelar_serve_serves_until_stopped(models, monkeypatch, capsys):
    served = {}

    def fake_run(app, host, port, **kwargs):  # uvicorn.run, without blocking
        served.update(app=app, host=host, port=port, **kwargs)

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", fake_run)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["serve", str(models), "--port", str(port)]) == 0
    assert served["host"] == "127.0.0.1" and served["port"] == port
    assert served["proxy_headers"] is False  # the rate limit sees the client's own address
    assert served["app"].app.state.catalog.names == ["binary", "cond", "more/rgb", "run"]  # behind the Host check
    assert capsys.readouterr().out == f"serving 4 models at http://127.0.0.1:{port}/ (Ctrl-C stops)\n"


# -- the page in a real browser ----------------------------------------------------------------


def _browser_unavailable() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "no chromium on PATH (apt-get install chromium chromium-driver; make browser does it as root)"
    if not shutil.which("chromedriver"):
        return "no chromedriver on PATH (apt-get install chromium-driver; make browser does it as root)"
    return None


@pytest.fixture(scope="module")
def browser(models, lm_dir):
    """(driver, page URL): headless Chromium on the app serving ``models`` in a background thread."""
    reason = _browser_unavailable()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1300,1500",
    ):
        options.add_argument(arg)
    app = create_app(
        {"digits": models / "run", "binary": models / "binary", "any order": lm_dir},
        limits=Limits(max_upload_bytes=32 * 1024, rate=50, burst=200),
        frame_interval=0,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with BackgroundServer(app) as url:
        try:
            driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
        except WebDriverException as e:
            pytest.skip(f"browser tests skipped: chromium did not start ({str(e).splitlines()[0]})")
        driver.set_script_timeout(20)
        try:
            yield driver, url
        finally:
            driver.quit()


def _open(browser) -> object:
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url = browser
    driver.get(url + "/")
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
    return driver


def _wait(driver, condition, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _shot(driver, name: str) -> None:
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


def _visible_text(driver, element_id: str) -> str:
    element = driver.find_element("id", element_id)
    return element.text if element.is_displayed() else ""


def test_browser_watches_samples_being_drawn(browser):
    driver = _open(browser)
    driver.execute_script(
        """const img = document.getElementById('sample-image');
        window.frameSources = new Set();
        new MutationObserver(() => window.frameSources.add(img.src)).observe(img, {attributes: true});"""
    )
    driver.find_element("id", "seed").send_keys("3")
    driver.find_element("id", "generate").click()
    _wait(driver, lambda d: d.find_element("id", "sample-image").get_attribute("data-done") == "true")
    assert driver.execute_script("return window.frameSources.size") > 2  # frames while drawing, then the last
    assert "done: 4 image(s)" in _visible_text(driver, "sample-status")
    assert driver.find_element("id", "sample-progress").get_attribute("value") == "1"
    assert _visible_text(driver, "sample-error") == ""
    _shot(driver, "sample")
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "model")).select_by_visible_text("binary")  # the model selector
    assert driver.find_element("id", "model-info").text == "pixelcnn: 8×8, greyscale, 2 levels"
    assert driver.find_element("id", "canvas").get_attribute("width") == "8"


def test_browser_completes_a_drawing(browser):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = _open(browser)
    canvas = driver.find_element("id", "canvas")
    ActionChains(driver).move_to_element_with_offset(canvas, -60, -100).click_and_hold().move_by_offset(
        100, 30
    ).move_by_offset(10, 60).release().perform()
    drawn = driver.execute_script(
        "const c = document.getElementById('canvas');"
        "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).filter((v, i) => i % 4 == 0 && v > 0).length"
    )
    assert drawn > 10
    driver.find_element("id", "complete-drawing").click()
    _wait(
        driver,
        lambda d: (d.find_element("id", "complete-image").get_attribute("src") or "").startswith("data:image/png"),
    )
    assert "kept the top 14 rows" in _visible_text(driver, "complete-status")
    driver.find_element("id", "example").click()
    _wait(driver, lambda d: "test image 0" in d.find_element("id", "complete-status").text)
    _shot(driver, "complete")


def _data_url_pixels(url: str) -> np.ndarray:
    """The grey values [H, W] of a PNG data URL (or of PNG bytes)."""
    data = base64.b64decode(url.split(",", 1)[1]) if isinstance(url, str) else url
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def _canvas_pixels(driver) -> np.ndarray:
    """The grey values [H, W] on the page's canvas (its red channel: the digits are grey)."""
    width, height, red = driver.execute_script(
        "const c = document.getElementById('canvas');"
        "const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "return [c.width, c.height, Array.from(px).filter((v, i) => i % 4 == 0)];"
    )
    return np.array(red, dtype=np.uint8).reshape(height, width)


@pytest.fixture
def slow_examples(monkeypatch):
    """Test images that take a while to come (index 0: 1.5 s, others 0.2 s), and the images of
    every completion request the server gets: {"examples": {index: pixels}, "uploads": [pixels]}."""
    from pixelar.web.work import Work

    seen: dict = {"examples": {}, "uploads": []}
    example, complete_upload = Work.example, Work.complete

    def slow_example(self, name, index):
        time.sleep(1.5 if index == 0 else 0.2)
        out = example(self, name, index)
        seen["examples"][index] = _data_url_pixels(out["image"])
        return out

    def recorded_complete(self, name, data, *args):
        seen["uploads"].append(_data_url_pixels(data))
        return complete_upload(self, name, data, *args)

    monkeypatch.setattr(Work, "example", slow_example)
    monkeypatch.setattr(Work, "complete", recorded_complete)
    return seen


CANVAS_READERS = ("complete-drawing", "bits-drawing", "ood-drawing", "compress-drawing")


def test_browser_never_completes_a_test_image_before_it_has_loaded(browser, slow_examples):
    driver = _open(browser)
    driver.find_element("id", "example").click()
    driver.find_element("id", "complete-drawing").click()  # at once, while the test image loads
    assert [driver.find_element("id", b).is_enabled() for b in CANVAS_READERS] == [False] * len(CANVAS_READERS)
    assert "loading a test image" in _visible_text(driver, "complete-status")
    _wait(driver, lambda d: all(d.find_element("id", b).is_enabled() for b in CANVAS_READERS))
    digit = slow_examples["examples"][0]
    assert digit.any() and np.array_equal(_canvas_pixels(driver), digit)
    assert "test image 0" in _visible_text(driver, "complete-status")
    driver.find_element("id", "complete-drawing").click()
    _wait(driver, lambda d: "kept the top" in d.find_element("id", "complete-status").text)
    assert len(slow_examples["uploads"]) == 1  # the click while loading sent nothing
    assert np.array_equal(slow_examples["uploads"][0], digit)  # the digit, never a blank canvas


def test_browser_sends_the_canvas_as_it_was_when_pressed_and_shows_the_last_image_asked_for(browser, slow_examples):
    driver = _open(browser)
    driver.find_element("id", "example").click()  # test image 0: slow
    driver.find_element("id", "example").click()  # test image 1, asked for last: shown, whichever comes last
    _wait(driver, lambda d: set(slow_examples["examples"]) == {0, 1})  # the server sent both
    _wait(driver, lambda d: all(d.find_element("id", b).is_enabled() for b in CANVAS_READERS))
    time.sleep(0.5)  # time to draw a late test image 0, were it drawn
    digit = slow_examples["examples"][1]
    assert np.array_equal(_canvas_pixels(driver), digit)
    assert "test image 1" in _visible_text(driver, "complete-status")
    assert all(driver.find_element("id", b).is_enabled() for b in CANVAS_READERS)
    driver.execute_script(  # clear the canvas the moment the request leaves
        "document.getElementById('complete-drawing').click(); document.getElementById('clear').click();"
    )
    _wait(driver, lambda d: "kept the top" in d.find_element("id", "complete-status").text)
    assert not _canvas_pixels(driver).any()
    assert len(slow_examples["uploads"]) == 1 and np.array_equal(slow_examples["uploads"][0], digit)
    driver.execute_script(  # test image 2, and a clear before it comes
        "document.getElementById('example').click(); document.getElementById('clear').click();"
    )
    _wait(driver, lambda d: 2 in slow_examples["examples"])
    time.sleep(0.5)  # time to draw test image 2, were it drawn
    assert not _canvas_pixels(driver).any()  # the cleared canvas stays clear
    assert all(driver.find_element("id", b).is_enabled() for b in CANVAS_READERS)


def test_browser_gives_the_buttons_back_when_a_test_image_fails_to_load(browser, slow_examples):
    from selenium.webdriver.support.ui import Select

    driver = _open(browser)
    Select(driver.find_element("id", "model")).select_by_visible_text("binary")  # no dataset: no test images
    driver.find_element("id", "example").click()
    assert not driver.find_element("id", "complete-drawing").is_enabled()
    _wait(driver, lambda d: "not a training run" in _visible_text(d, "complete-error"))
    assert all(driver.find_element("id", b).is_enabled() for b in CANVAS_READERS)
    assert _visible_text(driver, "complete-status") == ""


def test_browser_shows_a_bits_heat_map_of_an_upload(browser, tmp_path):
    driver = _open(browser)
    path = tmp_path / "digit.png"
    path.write_bytes(png(binary_image(0, (28, 28)) * 255))
    driver.find_element("id", "bits-file").send_keys(str(path))
    _wait(driver, lambda d: "bits/dim" in d.find_element("id", "bits-summary").text)
    assert driver.find_element("id", "bits-image").get_attribute("src").startswith("data:image/png")
    assert driver.find_element("id", "bits-summary").text.startswith("28×28: ")
    _shot(driver, "bits")


def test_browser_scores_a_dropped_image_beside_the_training_images(browser, models):
    from selenium.webdriver.support.ui import Select

    from pixelar.data import get_dataset

    driver = _open(browser)
    x = get_dataset("digits-binary", "test").images[:1].long()
    driver.execute_script(  # a PNG file dropped on the panel, as a drag from the desktop would
        """const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const files = new DataTransfer();
        files.items.add(new File([bytes], "digit.png", {type: "image/png"}));
        document.getElementById("ood").dispatchEvent(
          new DragEvent("drop", {dataTransfer: files, bubbles: true, cancelable: true}));""",
        base64.b64encode(png(x[0, 0].numpy() * 255)).decode(),
    )
    _wait(driver, lambda d: "among 500 digits-binary training images" in d.find_element("id", "ood-percentile").text)
    nll = float(-pixelar.load(models / "run").log_prob(x).detach()[0])
    summary = _visible_text(driver, "ood-summary")
    assert summary.startswith(f"NLL {nll:.2f} nats (") and "typicality" in summary, summary
    histogram = driver.find_element("id", "ood-histogram")
    assert histogram.is_displayed() and "of the bits/dim of 500" in histogram.get_attribute("aria-label")
    red = driver.execute_script(  # the marker at the image's value
        """const c = document.getElementById('ood-histogram');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i] > 180 && px[i + 1] < 80 && px[i + 3] > 200) n++;
        return n;"""
    )
    assert red > 50
    Select(driver.find_element("id", "ood-score")).select_by_value("typicality_nats")
    assert "of the typicality (nats) of 500" in histogram.get_attribute("aria-label")
    _shot(driver, "ood")
    Select(driver.find_element("id", "model")).select_by_visible_text("binary")  # a saved model: no data
    driver.find_element("id", "ood-drawing").click()
    _wait(driver, lambda d: "not a training run" in _visible_text(d, "ood-note"))
    assert not histogram.is_displayed() and _visible_text(driver, "ood-percentile") == ""
    assert "typicality" not in _visible_text(driver, "ood-summary")


def test_browser_compresses_and_restores_a_file(browser, tmp_path):
    driver = _open(browser)
    path = tmp_path / "digit.png"
    image = binary_image(5, (28, 28))
    path.write_bytes(png(image * 255))
    driver.find_element("id", "compress-file").send_keys(str(path))
    _wait(driver, lambda d: d.find_element("id", "pxz-link").is_displayed())
    link = driver.find_element("id", "pxz-link")
    assert link.get_attribute("download") == "digit.pxz"
    data = driver.execute_async_script(  # the download's bytes, as the page offers them
        """const done = arguments[arguments.length - 1];
        fetch(document.getElementById('pxz-link').href).then(r => r.arrayBuffer())
          .then(b => done(btoa(String.fromCharCode(...new Uint8Array(b)))));"""
    )
    pxz = tmp_path / "digit.pxz"
    pxz.write_bytes(base64.b64decode(data))
    driver.find_element("id", "decompress-file").send_keys(str(pxz))
    _wait(driver, lambda d: "restored 1 image(s): 28×28" in d.find_element("id", "decompress-summary").text)
    src = driver.find_element("css selector", "#decompress-images img").get_attribute("src")
    restored = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))
    assert np.array_equal(restored, image * 255)
    _shot(driver, "codec")


def test_browser_shows_errors_for_bad_and_too_large_uploads(browser, tmp_path):
    driver = _open(browser)
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    driver.find_element("id", "bits-file").send_keys(str(text))
    _wait(driver, lambda d: _visible_text(d, "bits-error") != "")
    assert (
        _visible_text(driver, "bits-error")
        == "notes.png is not an image (PNG, JPEG, GIF, BMP, WebP, …); choose an image file"
    )
    big = tmp_path / "big.png"
    big.write_bytes(png(np.random.default_rng(0).integers(0, 256, (200, 200))))
    assert big.stat().st_size > 32 * 1024
    driver.find_element("id", "compress-file").send_keys(str(big))
    _wait(driver, lambda d: _visible_text(d, "compress-error") != "")
    assert (
        _visible_text(driver, "compress-error")
        == "the upload is larger than the limit of 32 KiB; choose a smaller file"
    )
    wrong = tmp_path / "small.png"
    wrong.write_bytes(png(np.zeros((10, 10))))
    driver.find_element("id", "complete-file").send_keys(str(wrong))
    _wait(driver, lambda d: _visible_text(d, "complete-error") != "")
    assert _visible_text(driver, "complete-error") == "small.png is 10×10 but the model expects 28×28; resize it first"
    _shot(driver, "errors")
    assert driver.execute_script("return fetch('/api/info').then(r => r.status)") == 200  # the server goes on


def test_browser_samples_in_the_order_picked_and_fills_a_hole_painted_anywhere(browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    driver = _open(browser)
    order = Select(driver.find_element("id", "order"))
    assert [o.text for o in order.options] == ["raster"] and not driver.find_element("id", "order").is_enabled()
    Select(driver.find_element("id", "model")).select_by_visible_text("any order")
    names = [o.text for o in order.options]
    assert names[:3] == ["auto", *LM_ORDERS] and "hilbert" in names and driver.find_element("id", "order").is_enabled()
    order.select_by_visible_text("hilbert")
    driver.find_element("id", "seed").send_keys("3")
    driver.find_element("id", "generate").click()
    _wait(driver, lambda d: d.find_element("id", "sample-image").get_attribute("data-done") == "true")
    assert "drawn in hilbert order" in _visible_text(driver, "sample-status")
    Select(driver.find_element("id", "tool")).select_by_value("hole")
    canvas = driver.find_element("id", "canvas")
    ActionChains(driver).move_to_element_with_offset(canvas, -40, -20).click_and_hold().move_by_offset(
        80, 0
    ).release().perform()
    assert not driver.find_element("id", "keep-line").is_displayed()  # the hole is what is filled now
    assert not _canvas_pixels(driver).any()  # the hole is painted over the image, not into it
    driver.find_element("id", "complete-drawing").click()
    _wait(driver, lambda d: "filled a hole of" in d.find_element("id", "complete-status").text)
    status = _visible_text(driver, "complete-status")
    assert "in known-first hilbert order (every known pixel first" in status, status
    _shot(driver, "orders")
    driver.find_element("id", "clear-hole").click()
    assert driver.find_element("id", "keep-line").is_displayed()
    driver.find_element("id", "complete-drawing").click()
    _wait(driver, lambda d: "kept the top 4 rows" in d.find_element("id", "complete-status").text)


def test_a_busy_model_is_refused_after_a_short_wait(models):
    from pixelar.web.catalog import Catalog, ModelBusyError

    catalog = Catalog(models / "binary", busy_seconds=0.05)
    with catalog.use(None), pytest.raises(ModelBusyError, match="is busy with another request") as busy:
        with catalog.use(None):  # a second request while the first holds the model
            pass
    assert isinstance(busy.value, PixelarError) and busy.value.retry_after == 1
    with catalog.use(None):  # given back
        pass


def test_a_busy_model_is_a_503_with_retry_after_before_any_stream(models):
    """A request that waits for a model longer than Limits.busy_seconds gets HTTP 503, a
    Retry-After and a one-line error; sampling too, before its stream starts (no 200 with an
    error event), with no sampler started."""
    app = create_app(models, limits=Limits(rate=0, busy_seconds=0.05), frame_interval=0)
    entry = app.state.catalog.entry("binary")
    image = png(binary_image(5) * 255)
    with TestClient(app) as client, app.state.catalog.use("binary"):  # another request holds the model
        replies = [
            client.get("/api/sample", params={"model": "binary", "n": 1}),
            client.post("/api/bits", params={"model": "binary", "filename": "a.png"}, content=image),
            client.post("/api/compress", params={"model": "binary", "filename": "a.png"}, content=image),
        ]
        for response in replies:
            assert response.status_code == 503 and response.headers["retry-after"] == "1", response.text
            assert error_of(response) == "the model 'binary' is busy with another request; try again in 1 s"
            assert response.headers["content-type"] == "application/json"
        assert not any(t.name == "pixelar-sample" for t in threading.enumerate())
        assert client.get("/api/info").status_code == 200  # what needs no model is answered
    assert not entry.lock.locked()
    with TestClient(app) as client:  # given back: served again, and given back after the stream
        assert [kind for kind, _ in events(client, model="binary", n=1)][-1] == "done"
    deadline = time.monotonic() + 10
    while entry.lock.locked() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not entry.lock.locked()
