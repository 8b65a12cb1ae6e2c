"""Fixtures and settings shared by every test module (and the subprocesses tests start,
which inherit the environment)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from castlm.base._structured import LEARNED

# litellm (in the dev extra) downloads a price list when imported unless told to use the copy
# it ships; tests never reach the internet, and castlm's price lookup imports litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(autouse=True)
def _forget_learned_dialects() -> Iterator[None]:
    # What ``structured_output="auto"`` learns about an endpoint lives for the process, like
    # a connection pool; tests reuse ports and model names, so each starts from nothing.
    LEARNED.forget()
    yield
    LEARNED.forget()


# pyright in `castlm verify` takes tens of seconds per package: off for the suite, except in
# the tests that turn it back on (test_verify_pyright.py, test_typing.py).
os.environ.setdefault("CASTLM_VERIFY_PYRIGHT", "0")
