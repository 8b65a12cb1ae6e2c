"""``manifest.json``: how the package was built, plus a hash of every file it holds."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from castlm.compiler.emit.errors import EmitError
from castlm.compiler.emit.request import EmitRequest
from castlm.compiler.emit.runtime_copy import footprint

GENERATOR = "castlm"


def manifest_bytes(request: EmitRequest, files: Mapping[str, bytes]) -> bytes:
    """The caller's manifest with the emitter's keys added; keys sorted, ASCII only.

    ``files`` maps every other file of the output (paths relative to the output root) to its
    SHA-256, so a changed or hand-edited file can be detected later.
    """
    manifest: dict[str, Any] = dict(request.manifest)
    manifest.update(
        generator=GENERATOR,
        package=request.package,
        module_class=request.module_class,
        predictors=list(request.params),
        files={path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
        runtime=footprint(files, request.package).to_json(),
    )
    try:
        text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=True)
    except (TypeError, ValueError) as exc:
        raise EmitError(f"the manifest is not JSON data: {exc}") from exc
    return (text + "\n").encode("ascii")
