"""What the rest of the runtime knows of images without the ``Image`` class itself.

Signatures, adapters and traces must tell an image field from another one, and keep an
image's base64 out of reports and spans, in every program. ``castlm.Image`` (base/_image.py)
is only needed by programs that declare image fields, so an emitted package vendors it only
then: an image class is recognised here by its ``__castlm_image__`` marker, and its values
are read through base/_image_values.py, which imports base/_image.py when an image is there
(kept out of this module, which base/_image.py itself imports).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from ._narrow import is_mapping

DATA_PREFIX = "data:"


def is_image_class(annotation: Any) -> bool:
    return isinstance(annotation, type) and bool(getattr(annotation, "__castlm_image__", False))


def image_field(annotation: Any) -> bool:
    """True for the image field types: ``Image``, ``Image | None`` and ``list[Image]``."""
    if is_image_class(annotation):
        return True
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return len(rest) == 1 and len(args) == 2 and is_image_class(rest[0])
    return origin is list and len(args) == 1 and is_image_class(args[0])


def size_text(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def short_url(url: str) -> str:
    """A URL fit for messages: no query string (signed URLs carry credentials there)."""
    if url.startswith(DATA_PREFIX):
        return f"{url[:30]}..."
    base = url.split("?", 1)[0].split("#", 1)[0]
    base = base if len(base) <= 80 else f"{base[:77]}..."
    return f"{base}?..." if "?" in url else base


def redacted_part(part: Mapping[str, Any]) -> dict[str, Any]:
    """A content part fit for traces and logs: an inline image as its media type, size and
    hash instead of its base64."""
    image_url = part.get("image_url")
    url = image_url.get("url") if is_mapping(image_url) else None
    if part.get("type") != "image_url" or not isinstance(url, str):
        return dict(part)
    return {"type": "image_url", "image_url": {"url": redacted_url(url)}}


def redacted_url(url: str) -> str:
    """An image URL as reports and traces show it: a ``data:`` URL as its media type, size
    and hash (``<image/png, 2.1 KiB, sha256=3f2a...>``), a remote one without its query."""
    if not url.startswith(DATA_PREFIX):
        return short_url(url)
    # Only here (an inline image in a trace or report): keeps `import castlm` lean.
    import base64
    import binascii
    import hashlib

    media_type = url[len(DATA_PREFIX) :].split(";", 1)[0]
    try:  # the hash of the bytes, as in repr(Image), so the two can be matched up
        data = base64.b64decode(url.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        return f"<{media_type}, not valid base64>"
    return f"<{media_type}, {size_text(len(data))}, sha256={hashlib.sha256(data).hexdigest()[:12]}>"
