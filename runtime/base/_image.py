"""``castlm.Image``: an image input, sent as an OpenAI-compatible ``image_url`` content part.

An image is either bytes (from a file, bytes or base64; sent inline as a ``data:`` URL) or a
remote ``http(s)`` URL (sent as is; the model's server fetches it). Bytes are checked when the
image is made: a known format (PNG, JPEG, GIF, WEBP, from the magic bytes) and a size limit,
so a bad file fails before any LM call. The repr and every message castlm writes name an image
by its media type, size and a short hash, never by its base64 (logs and traces stay small, and
an image's content stays out of them); :func:`redacted_part` does the same for an image part
in a trace. Only a program with image fields vendors this module (base/_features.py): the rest
of the runtime tells an image field by its marker (base/_types.py) and imports this module
only when an image is there.

In JSON (demos, datasets, frozen packages) an image is its URL string: ``data:...;base64,...``
or ``https://...``. A plain string is never read as a file path when validating a field, so a
request body that names ``/etc/passwd`` cannot make a service read its disk; paths go through
:meth:`Image.from_path` explicitly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import InputError
from ._narrow import is_list_or_tuple, is_mapping

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

#: The largest image accepted, in bytes (OpenAI's limit per image).
MAX_IMAGE_BYTES = 20 * 1024 * 1024

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_REMOTE = ("https://", "http://")
DATA_PREFIX = "data:"


class Image:
    """An image input; build one with a ``from_*`` constructor."""

    __castlm_image__ = True
    __slots__ = ("_data", "_remote", "media_type")

    def __init__(
        self, *, data: bytes | None = None, url: str | None = None, max_bytes: int = MAX_IMAGE_BYTES
    ) -> None:
        if (data is None) == (url is None):
            raise InputError("Image takes data= or url=, not both; use Image.from_path/...")
        if data is not None:
            _check_size(len(data), max_bytes, "the image")
        elif url is not None and (not url.startswith(_REMOTE) or len(url) > 8192):
            raise InputError(
                f"not an image URL: {short_url(url)}; pass an http(s):// or data: URL, or use "
                f"Image.from_path / Image.from_bytes"
            )
        self._data = data
        self._remote = url
        self.media_type: str | None = None if data is None else media_type_of(data)

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES) -> Image:
        return cls(data=bytes(data), max_bytes=max_bytes)

    @classmethod
    def from_path(cls, path: str | Path, *, max_bytes: int = MAX_IMAGE_BYTES) -> Image:
        file = Path(path)
        try:
            size = file.stat().st_size
        except OSError as exc:
            raise InputError(f"image file {str(file)!r} cannot be read: {exc.strerror}") from exc
        _check_size(size, max_bytes, f"image file {str(file)!r}")
        try:
            return cls(data=file.read_bytes(), max_bytes=max_bytes)
        except InputError as exc:
            raise InputError(f"image file {str(file)!r}: {exc}") from exc

    @classmethod
    def from_url(cls, url: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> Image:
        """An ``http(s)://`` URL the model's server fetches, or a ``data:`` URL."""
        if url.startswith(DATA_PREFIX):
            return cls.from_base64(url, max_bytes=max_bytes)
        return cls(url=url)

    @classmethod
    def from_base64(cls, text: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> Image:
        """Base64 text, bare or as a ``data:<type>;base64,`` URL; the type is read from the
        bytes themselves."""
        payload = text
        if text.startswith(DATA_PREFIX):
            head, sep, payload = text.partition(",")
            if not sep or not head.endswith(";base64"):
                raise InputError("a data: URL image must be base64 (data:<type>;base64,...)")
        # Checked before decoding: four characters carry three bytes.
        _check_size(len(payload) * 3 // 4, max_bytes, "the image")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputError(f"the image is not valid base64: {exc}") from None
        return cls(data=data, max_bytes=max_bytes)

    # -- what is sent --------------------------------------------------------------------
    @property
    def data(self) -> bytes | None:
        """The image's bytes; None for a remote URL."""
        return self._data

    @property
    def url(self) -> str:
        """What the request carries: a ``data:`` URL, or the remote URL."""
        if self._data is None:
            assert self._remote is not None
            return self._remote
        return f"data:{self.media_type};base64,{base64.b64encode(self._data).decode('ascii')}"

    @property
    def digest(self) -> str:
        """SHA-256 of the bytes (or of the remote URL): what identifies the image."""
        material = self._data if self._data is not None else (self._remote or "").encode()
        return hashlib.sha256(material).hexdigest()

    def content_part(self) -> dict[str, Any]:
        """The OpenAI-compatible chat content part."""
        return {"type": "image_url", "image_url": {"url": self.url}}

    # -- identity and display ------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        if self._data is None:
            return f"Image(url={short_url(self._remote or '')!r})"
        return f"Image({self.media_type}, {size_text(len(self._data))}, sha256={self.digest[:12]})"

    __str__ = __repr__

    # -- pydantic ------------------------------------------------------------------------
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            _validate,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize, when_used="json"
            ),
        )


def _validate(value: object) -> Image:
    if isinstance(value, Image):
        return value
    if getattr(type(value), "__castlm_image__", False):  # another runtime's Image (a package)
        return Image.from_url(value.url)  # type: ignore[attr-defined]
    if isinstance(value, str):
        try:
            return Image.from_url(value)
        except InputError as exc:
            raise ValueError(str(exc)) from None
    raise ValueError(
        f"expected an Image (castlm.Image.from_path/from_bytes/from_url/from_base64) or a "
        f"data: or http(s):// URL, got {type(value).__name__}"
    )


def _serialize(image: Image) -> str:
    return image.url


def media_type_of(data: bytes) -> str:
    """The image's media type from its first bytes; raises InputError for other data."""
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise InputError("the data is not a PNG, JPEG, GIF or WEBP image")


def _check_size(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise InputError(
            f"{what} is {size_text(size)}, over the {size_text(limit)} limit: resize or compress "
            f"it, or pass a larger max_bytes="
        )


def images_in(value: Any) -> list[Image]:
    """An image field's value (an Image, a list of them, their URLs, or None) as Images."""
    if value is None:
        return []
    items: list[Any] | tuple[Any, ...] = value if is_list_or_tuple(value) else [value]
    return [_validate(item) for item in items]


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
    media_type = url[len(DATA_PREFIX) :].split(";", 1)[0]
    try:  # the hash of the bytes, as in repr(Image), so the two can be matched up
        data = base64.b64decode(url.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        return f"<{media_type}, not valid base64>"
    return f"<{media_type}, {size_text(len(data))}, sha256={hashlib.sha256(data).hexdigest()[:12]}>"
