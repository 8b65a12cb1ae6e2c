"""``castlm verify``'s first check: every file the manifest lists still has its hash.

The replay only notices edits that change a dev-set prompt or prediction; a comment added to
``_frozen.py`` or a changed branch no dev input reaches would pass it. The manifest records
the SHA-256 of every file of the output (paths relative to the output folder), and the
output marker records the manifest's own, so any edit after the compile is caught here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from .emit.owned import MARKER
from .errors import VerifyError

_FIX = "recompile with `castlm compile --force` instead of editing the output"


def check_hashes(out: Path, manifest_path: Path, manifest: Mapping[str, object]) -> int:
    """Raise naming the first file that is missing or changed; return how many were checked."""
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not listed:
        raise VerifyError(f"the manifest lists no file hashes; {_FIX}", path=manifest_path)
    _check_manifest_itself(out, manifest_path)
    for relative, digest in sorted(listed.items()):
        path = out.joinpath(*str(relative).split("/"))
        found = _sha256(path)
        if found is None:
            raise VerifyError(
                f"{relative} is listed in the manifest but missing; {_FIX}", path=path
            )
        if found != digest:
            raise VerifyError(
                f"{relative} was changed after the compile (its SHA-256 differs from the "
                f"manifest's); {_FIX}",
                path=path,
            )
    return len(listed)


def _check_manifest_itself(out: Path, manifest_path: Path) -> None:
    """The manifest against the output marker, when there is one (an output copied without
    its hidden marker is checked by its manifest alone)."""
    try:
        marker = json.loads((out / MARKER).read_bytes())
    except (OSError, ValueError, RecursionError):
        return
    files = marker.get("files") if isinstance(marker, dict) else None
    relative = manifest_path.relative_to(out).as_posix()
    if isinstance(files, dict) and relative in files and files[relative] != _sha256(manifest_path):
        raise VerifyError(
            f"{relative} was changed after the compile (its SHA-256 differs from the one in "
            f"{MARKER}); {_FIX}",
            path=manifest_path,
        )


def _sha256(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None
