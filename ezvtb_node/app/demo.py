"""The built-in demo: the bundled performance trace through mapping → core → files.

The trace (``data/demo_performance.jsonl.gz``, one minute of face tracking in the trace format,
synthesized by ``scripts/make_demo_trace.py``) is sampled at a fixed rate and every sample goes
through the same mapping file and core the node uses. The demo needs no tracker, no network and
no downloads beyond the package registries. ``--serve`` runs the whole node on the trace instead
and shows it in a browser.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ezvtb_node.character import load_character, sample_character_path
from ezvtb_node.inputs import TrackingFrame, read_trace
from ezvtb_node.mapping import Mapper
from ezvtb_node.mapping.bundled import resolve_mapping_path
from ezvtb_node.outputs.files import to_image, write_webp_animation

if TYPE_CHECKING:  # the core's runtimes load with the core
    from ezvtb_node.core.core import Core


def demo_trace_path() -> Path:
    return Path(str(files("ezvtb_node") / "data" / "demo_performance.jsonl.gz"))


def sample_trace(path: Path, seconds: float, fps: float) -> Iterator[TrackingFrame]:
    """The trace's frames at ``fps``: for each tick the last frame recorded at or before it."""
    ticks = iter(k / fps for k in range(math.floor(seconds * fps)))
    tick = next(ticks, None)
    previous = None
    for frame in read_trace(path):
        while tick is not None and frame.t > tick:
            if previous is not None:
                yield previous
            tick = next(ticks, None)
        if tick is None:
            return
        previous = frame
    while tick is not None and previous is not None:
        yield previous
        tick = next(ticks, None)


@dataclass
class DemoResult:
    tha3_frames: int
    output_frames: int
    seconds: float
    animation: Path
    contact_sheet: Path
    report: Path

    @property
    def fps(self) -> float:
        return self.tha3_frames / self.seconds if self.seconds else 0.0


def run_demo(
    core: Core,
    out_dir: Path,
    seconds: float = 12.0,
    fps: float = 8.0,
    character: Path | None = None,
    trace: Path | None = None,
) -> DemoResult:
    """Render ``seconds`` of the trace sampled at ``fps``; write the animation, sheet and report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    core.setImage(load_character(character or sample_character_path()))
    mapper = Mapper(resolve_mapping_path("ifacialmocap"))
    rendered: list[np.ndarray] = []
    render_seconds: list[float] = []
    tha3_frames = 0
    for frame in sample_trace(trace or demo_trace_path(), seconds, fps):
        start = time.perf_counter()
        batch = core.inference(mapper.update(frame.channels, frame.t))
        render_seconds.append(time.perf_counter() - start)
        rendered.extend(f.copy() for f in batch)
        tha3_frames += 1
    if not rendered:
        raise ValueError(f"the trace has no frames in its first {seconds} s")
    total = sum(render_seconds)
    frames_per_tha3 = len(rendered) // tha3_frames
    animation = out_dir / "demo.webp"
    sheet = out_dir / "contact-sheet.png"
    report = out_dir / "report.json"
    write_webp_animation(rendered, animation, fps=fps * frames_per_tha3, quality=90)
    _write_contact_sheet(rendered[frames_per_tha3 - 1 :: frames_per_tha3], sheet)
    report.write_text(
        json.dumps(
            {
                "trace_seconds": seconds,
                "sample_fps": fps,
                "tha3_frames": tha3_frames,
                "output_frames": len(rendered),
                "render_seconds": total,
                "tha3_frames_per_second": tha3_frames / total,
                "inference_ms_median": 1000 * statistics.median(render_seconds),
                "inference_ms_max": 1000 * max(render_seconds),
                "core": core.describe(),
                "stats": core.stats(),
            },
            indent=2,
            default=str,
        )
    )
    return DemoResult(tha3_frames, len(rendered), total, animation, sheet, report)


def _write_contact_sheet(frames: list[np.ndarray], path: Path, columns: int = 8, thumb: int = 160) -> None:
    picks = frames[:: max(1, math.ceil(len(frames) / (columns * 2)))][: columns * 2]
    rows = math.ceil(len(picks) / columns)
    sheet = Image.new("RGBA", (columns * thumb, rows * thumb))
    # A checkerboard behind the character makes the alpha channel visible.
    tile = (np.indices((rows * thumb, columns * thumb)) // 16).sum(axis=0) % 2
    checker = np.where(tile[..., None] == 1, 200, 255).astype(np.uint8).repeat(3, axis=2)
    sheet.paste(Image.fromarray(checker, "RGB"))
    for i, frame in enumerate(picks):
        image = to_image(frame).resize((thumb, thumb), Image.Resampling.LANCZOS)
        sheet.alpha_composite(image, ((i % columns) * thumb, (i // columns) * thumb))
    sheet.convert("RGB").save(path)
