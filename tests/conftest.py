"""Shared fixtures. Shared helper functions and constants are in helpers.py (``from helpers
import tiny``), not here: test modules do not import conftest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from helpers import MODELS


@pytest.fixture(params=MODELS)
def model_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models on one intra-op thread, for a module that asks
    (``pytestmark = pytest.mark.usefixtures("one_thread")``): two threads gain nothing for them
    and crawl on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
