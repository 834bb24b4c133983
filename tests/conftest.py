"""Shared fixtures. Shared helper functions and constants are in helpers.py (``from helpers
import tiny``), not here: test modules do not import conftest."""

from __future__ import annotations

import pytest

from helpers import MODELS


@pytest.fixture(params=MODELS)
def model_name(request: pytest.FixtureRequest) -> str:
    return request.param
