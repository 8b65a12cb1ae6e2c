"""What the rest of the runtime knows of images without the ``Image`` class itself.

Signatures, adapters and traces must tell an image field from another one, and keep an
image's base64 out of reports and spans, in every program. ``castlm.Image`` (base/_image.py)
is only needed by programs that declare image fields, so an emitted package vendors it only
then: an image class is recognised here by its ``__castlm_image__`` marker, and its values
are read through :func:`images_in`, which imports base/_image.py when an image is there.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, Union, cast, get_args, get_origin

from ._features import not_vendored
from ._narrow import is_mapping

DATA_PREFIX = "data:"


class ImageValue(Protocol):
    """What a prompt needs of an image (``castlm.Image``)."""

    def content_part(self) -> dict[str, Any]: ...


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


def images_in(value: Any) -> list[ImageValue]:
    """An image field's value (an Image, a list of them, their URLs, or None) as Images."""
    try:
        from ._image import images_in as read  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError as exc:
        raise not_vendored("image", "an Image field", exc) from exc
    # cast: the vendored runtime's type checkers may find no _image to read.
    return list(cast("Sequence[ImageValue]", read(value)))


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
