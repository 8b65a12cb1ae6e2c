"""Before any LM call: the user's sources pass ``mypy --strict``.

The emitted package carries the program file and the project-local modules it imports,
and verification runs ``mypy --strict`` on the package. Without this check, an untyped
helper in the user's own code was found only there, after every LM call of the compile had
been paid for. The sources are checked where they are, with castlm installed, which is
what the package's vendored runtime reproduces. The mypy cache lives in the project's
``.castlm`` folder, so a rebuild checks in well under a second.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import CompileError

TIMEOUT_S = 600.0
_SHOWN = 20


def typecheck_sources(sources: Sequence[Path], cache_dir: Path, where: Path) -> None:
    """Run ``mypy --strict`` on ``sources``; raise with its errors, reported at ``where``."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only project: check without keeping a cache
        with tempfile.TemporaryDirectory(prefix="castlm-mypy-") as scratch:
            _run_mypy(sources, Path(scratch), where)
        return
    _run_mypy(sources, cache_dir, where)


def _run_mypy(sources: Sequence[Path], cache_dir: Path, where: Path) -> None:
    folder = sources[0].parent
    command = [
        sys.executable, "-m", "mypy", "--strict", "--config-file=", "--cache-dir", str(cache_dir),
        "--no-color-output", "--no-error-summary", "--show-error-codes",
        *(str(path) for path in sources),
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CompileError(
            f"mypy --strict did not finish within {TIMEOUT_S:.0f} s on the program's sources; "
            f"compile with --no-verify (verify = false) to skip type checks",
            path=where,
        ) from exc
    if done.returncode == 0:
        return
    output = done.stdout + done.stderr
    errors = [_located(line, folder) for line in output.splitlines() if ": error:" in line]
    if not errors:  # exit 2 or a crash: mypy could not check at all
        errors = [f"mypy failed (exit {done.returncode}): {output.strip()[-2000:]}"]
    raise _failure(errors, where)


def _located(line: str, folder: Path) -> str:
    """mypy prints paths relative to its working folder: make them usable from anywhere."""
    path, sep, rest = line.partition(":")
    return str(folder / path) + sep + rest if not Path(path).is_absolute() else line


def _failure(errors: Sequence[str], where: Path) -> CompileError:
    shown = [f"  {e}" for e in errors[:_SHOWN]]
    if len(errors) > _SHOWN:
        shown.append(f"  ... and {len(errors) - _SHOWN} more")
    return CompileError(
        "the program's sources fail `mypy --strict`, which the emitted package must pass "
        "(they are part of it); nothing was spent yet:\n"
        + "\n".join(shown)
        + "\nfix these, or compile with --no-verify (verify = false) to skip verification",
        path=where,
    )
