"""Super-resolution cost per frame and a quality check on THA3-rendered frames.

Quality: each 512² THA3 frame is shrunk to 256² (area average), placed in the middle of a
transparent 512² canvas, upscaled ×2, and the middle 512² of the result is compared with the
original frame (PSNR of premultiplied colour and of alpha). Cost: milliseconds per 512² input
frame at ×2 and ×4 (median and p99). Any waifu2x / Real-ESRGAN file imported into the engines
folder is measured too.

    .venv/bin/python benchmarks/interp_sr.py [--repeat 10]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from interp_quality import machine_description, measure_ms, premultiplied, psnr
from interp_sequences import rendered_cases

from ezvtb_node.core.models.layout import SR_INPUTS
from ezvtb_node.core.models.store import find_sr_model
from ezvtb_node.core.sr import OnnxUpscaler, Upscaler, make_upscaler


def roundtrip_psnr(upscaler: Upscaler, frames: list[np.ndarray]) -> tuple[float, float]:
    rgb, alpha = [], []
    for frame in frames:
        canvas = np.zeros_like(frame)
        canvas[128:384, 128:384] = cv2.resize(frame, (256, 256), interpolation=cv2.INTER_AREA)
        restored = upscaler.upscale(canvas)[256:768, 256:768]
        rgb.append(psnr(premultiplied(restored), premultiplied(frame)))
        alpha.append(psnr(restored[:, :, 3], frame[:, :, 3]))
    return float(np.mean(rgb)), float(np.mean(alpha))


def upscalers(scale: int) -> dict[str, Upscaler]:
    found = {"bicubic": make_upscaler("bicubic", scale)}
    for family in SR_INPUTS.values():
        path = find_sr_model(family, scale, half=False)
        if path is not None:
            found[f"{family} (imported)"] = OnnxUpscaler(path)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed calls per upscaler and scale")
    args = parser.parse_args()
    frames = [case.frames[0] for case in rendered_cases()]
    print(f"machine: {machine_description()}; {len(frames)} THA3 frames (medians; shared machine, noisy)\n")
    print(
        "| upscaler | scale | ms / frame (median) | p99 | CPU ms | round-trip PSNR colour (dB) | alpha (dB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for scale in (2, 4):
        for name, upscaler in upscalers(scale).items():
            median, p99, cpu = measure_ms(
                lambda i, u=upscaler: u.upscale(frames[i % len(frames)]), args.repeat
            )
            quality = "| – | –"
            if scale == 2:
                rgb, alpha = roundtrip_psnr(upscaler, frames)
                quality = f"| {rgb:.2f} | {alpha:.2f}"
            print(f"| {name} | x{scale} | {median:.1f} | {p99:.1f} | {cpu:.1f} {quality} |")


if __name__ == "__main__":
    main()
