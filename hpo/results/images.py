"""Images on the report's page: each one a PNG inside the page (a data URI), so the page
stays one file that works offline.

Trainers hand hpo images as uint8 arrays, [N, H, W, C] with C 1 or 3, or [N, H, W] for
gray (hpo.contract); :func:`as_images` checks one and brings it to [N, H, W, C].
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import numpy as np

MIN_SIDE = 64  # pixels on the page of an image's longer side: an 8x8 digit is drawn 8 times larger


def as_images(value: Any) -> np.ndarray:
    """``value`` as uint8 [N, H, W, C] with C 1 or 3; ValueError saying what it is instead."""
    images = np.asarray(value)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), not {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be [N, H, W, C] with C 1 or 3, or [N, H, W]; got shape {list(np.shape(value))}")
    return images


def png_uri(image: np.ndarray) -> str:
    """One [H, W, C] uint8 image as a ``data:image/png`` URI."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def img_tag(image: np.ndarray, title: str = "") -> str:
    """An ``<img>`` of one [H, W, C] image, scaled by a whole factor to at least MIN_SIDE
    with its pixels kept sharp; ``title`` shows on hover."""
    height, width = image.shape[:2]
    scale = max(1, math.ceil(MIN_SIDE / max(height, width)))
    return (
        f'<img src="{png_uri(image)}" width="{width * scale}" height="{height * scale}" '
        f'title="{html.escape(title)}" alt="{html.escape(title)}" style="image-rendering: pixelated">'
    )


def captioned(image: np.ndarray, caption: str, title: str = "") -> str:
    """An image with its caption beneath, as one cell of a wrapping grid."""
    return (
        '<figure style="display: inline-block; margin: 0 .4em .6em 0; text-align: center; font-size: .8em">'
        f"{img_tag(image, title or caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"
    )
