"""pyright in strict mode on an emitted package, beside mypy --strict (part of verify).

It runs when pyright is installed (the ``dev`` extra pins it) unless ``CASTLM_VERIFY_PYRIGHT=0``
(pyright takes tens of seconds per package; the test suite turns it off except where it
tests it). The whole package is checked strictly: the files castlm generates, the program's
own modules and the vendored ``_runtime/``. One rule is off, the one the generated imports
break by design: ``from . import _runtime as cl`` uses a private name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ENV_SWITCH = "CASTLM_VERIFY_PYRIGHT"


def pyright_executable() -> str | None:
    """The pyright next to this interpreter (else on PATH); None when absent or turned off."""
    if os.environ.get(ENV_SWITCH, "").strip() == "0":
        return None
    return shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which("pyright")


def start_pyright(out_dir: Path, package: str, work: Path) -> subprocess.Popen[str] | None:
    executable = pyright_executable()
    if executable is None:
        return None
    config = work / "pyrightconfig.json"
    settings = {
        "typeCheckingMode": "strict",
        "reportPrivateUsage": False,
        "pythonVersion": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    config.write_text(json.dumps(settings), encoding="utf-8")
    command = [
        executable, "--outputjson", "--pythonpath", sys.executable, "-p", str(config),
        str(out_dir / package),
    ]  # fmt: skip
    # stdout is the JSON report; stderr only says which paths the config ignores.
    return subprocess.Popen(
        command, cwd=out_dir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def pyright_errors(output: str, returncode: int, out_dir: Path) -> list[str]:
    """``file:line:col: message (rule)`` per error; the raw output if pyright did not run."""
    try:
        report = json.loads(output)
    except ValueError:
        return [f"pyright failed (exit {returncode}): {output.strip()[-2000:]}"]
    errors: list[str] = []
    for found in report.get("generalDiagnostics", []):
        if found.get("severity") != "error":
            continue
        path = Path(found.get("file", "?"))
        shown = path.relative_to(out_dir) if path.is_relative_to(out_dir) else path
        start = found.get("range", {}).get("start", {})
        rule = f" ({found['rule']})" if found.get("rule") else ""
        message = " ".join(str(found.get("message", "")).split())
        errors.append(
            f"{shown}:{start.get('line', 0) + 1}:{start.get('character', 0) + 1}: {message}{rule}"
        )
    if not errors and returncode not in (0, 1):
        return [f"pyright failed (exit {returncode}): {output.strip()[-2000:]}"]
    return errors
