"""pyright in `castlm verify` takes tens of seconds per package: off for the suite, except in
the tests that turn it back on (test_verify_pyright.py, test_typing.py)."""

from __future__ import annotations

import os

os.environ.setdefault("CASTLM_VERIFY_PYRIGHT", "0")
