"""Fixtures shared by every test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from castlm._structured import LEARNED


@pytest.fixture(autouse=True)
def _forget_learned_dialects() -> Iterator[None]:
    # What ``structured_output="auto"`` learns about an endpoint lives for the process, like
    # a connection pool; tests reuse ports and model names, so each starts from nothing.
    LEARNED.forget()
    yield
    LEARNED.forget()
