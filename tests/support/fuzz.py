"""The budget of the property tests that fuzz castlm's parsers (tests/test_fuzz_*.py).

Each test runs ``examples(n)`` inputs: ``n`` in CI (all the fuzz tests together stay under a
minute on a busy 2-core machine), ``n`` times ``CASTLM_FUZZ_SCALE`` when that variable is set,
or exactly ``CASTLM_FUZZ_EXAMPLES`` when that one is (to search long, locally).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def examples(n: int) -> int:
    exact = os.environ.get("CASTLM_FUZZ_EXAMPLES")
    if exact:
        return max(1, int(exact))
    return max(1, int(n * float(os.environ.get("CASTLM_FUZZ_SCALE", "1"))))


def budget(n: int) -> settings:
    """Settings for a fuzz test: ``examples(n)`` inputs, no per-input deadline (the machine is
    shared; a slow input is not a failure), and fixtures allowed (each input cleans up)."""
    return settings(
        max_examples=examples(n),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )


def json_values(max_leaves: int = 10) -> st.SearchStrategy[Any]:
    """Any value JSON can hold: scalars (NaN and infinities too), lists and objects."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )
