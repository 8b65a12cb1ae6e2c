"""The castlm runtime, as the files vendored into every emitted package (``<pkg>/_runtime``).

The runtime is the installed ``castlm`` package minus the build-time ``castlm.compiler``
subpackage. It uses relative imports only, so its files are copied byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path

import castlm
import castlm.compiler


def runtime_files() -> dict[str, bytes]:
    """Every ``.py`` file and ``py.typed`` of the runtime, keyed by path relative to it."""
    root = Path(castlm.__file__).parent
    compiler = Path(castlm.compiler.__file__).parent
    files: dict[str, bytes] = {}
    for directory, subdirs, names in os.walk(root):
        here = Path(directory)
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__" and here / d != compiler)
        for name in sorted(names):
            if name.endswith(".py") or name == "py.typed":
                files[(here / name).relative_to(root).as_posix()] = (here / name).read_bytes()
    return files
