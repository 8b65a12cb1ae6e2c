"""An image field's value as images, for programs that may or may not vendor ``Image``.

The one place outside base/_image.py that reaches into it, and only when a value is there:
a package whose program has no image fields is compiled without base/_image.py
(base/_features.py), and this import then names the castlm.toml setting that adds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast

from ._features import not_vendored


class ImageValue(Protocol):
    """What a prompt needs of an image (``castlm.Image``)."""

    def content_part(self) -> dict[str, Any]: ...


def images_in(value: Any) -> list[ImageValue]:
    """An image field's value (an Image, a list of them, their URLs, or None) as Images."""
    try:
        from ._image import images_in as read  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError as exc:
        raise not_vendored("image", "an Image field", exc) from exc
    # cast: the vendored runtime's type checkers may find no _image to read.
    return list(cast("Sequence[ImageValue]", read(value)))
