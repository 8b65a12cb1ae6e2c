"""``castlm.Image``: an image input, sent as an OpenAI-compatible ``image_url`` content part.

An image is either bytes (from a file, bytes or base64; sent inline as a ``data:`` URL) or a
remote ``http(s)`` URL (sent as is; the model's server fetches it). Bytes are checked when the
image is made: a known format (PNG, JPEG, GIF, WEBP, from the magic bytes) and a size limit,
so a bad file fails before any LM call. The repr and every message castlm writes name an image
by its media type, size and a short hash, never by its base64 (logs and traces stay small, and
an image's content stays out of them).

In JSON (demos, datasets, frozen packages) an image is its URL string: ``data:...;base64,...``
or ``https://...``. A plain string is never read as a file path when validating a field, so a
request body that names ``/etc/passwd`` cannot make a service read its disk; paths go through
:meth:`Image.from_path` explicitly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import InputError
from ._image_fields import DATA_PREFIX as _DATA_PREFIX
from ._image_fields import short_url as _short
from ._image_fields import size_text as _size
from ._narrow import is_list_or_tuple

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
                f"not an image URL: {_short(url)}; pass an http(s):// or data: URL, or use "
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
        if url.startswith(_DATA_PREFIX):
            return cls.from_base64(url, max_bytes=max_bytes)
        return cls(url=url)

    @classmethod
    def from_base64(cls, text: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> Image:
        """Base64 text, bare or as a ``data:<type>;base64,`` URL; the type is read from the
        bytes themselves."""
        payload = text
        if text.startswith(_DATA_PREFIX):
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
            return f"Image(url={_short(self._remote or '')!r})"
        return f"Image({self.media_type}, {_size(len(self._data))}, sha256={self.digest[:12]})"

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
            f"{what} is {_size(size)}, over the {_size(limit)} limit: resize or compress it, "
            f"or pass a larger max_bytes="
        )


def images_in(value: Any) -> list[Image]:
    """An image field's value (an Image, a list of them, their URLs, or None) as Images."""
    if value is None:
        return []
    items: list[Any] | tuple[Any, ...] = value if is_list_or_tuple(value) else [value]
    return [_validate(item) for item in items]
