"""Write the bundled demo performance: one minute of tracking in the trace format (docs/contracts.md §3).

It is synthesized, not captured: a scripted performer who looks around, blinks, smiles, talks,
raises the brows and glances sideways, with the noise and timing of a 60 Hz iPhone tracker
(iFacialMocap) so mapping filters see realistic input. Deterministic (fixed seed).

    .venv/bin/python scripts/make_demo_trace.py ezvtb_node/data/demo_performance.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import math

import numpy as np

from ezvtb_node.channels import ARKIT_BLENDSHAPES

RATE_HZ = 60
SECONDS = 60


def envelope(t: float, start: float, end: float, ramp: float = 0.25) -> float:
    """0 outside [start, end], 1 inside, with smooth ramps."""
    if t < start - ramp or t > end + ramp:
        return 0.0
    if t < start:
        return 0.5 - 0.5 * math.cos(math.pi * (t - start + ramp) / ramp)
    if t > end:
        return 0.5 + 0.5 * math.cos(math.pi * (t - end) / ramp)
    return 1.0


def frame_channels(t: float, rng: np.random.Generator, blinks: list[float]) -> dict[str, float]:
    c = dict.fromkeys(ARKIT_BLENDSHAPES, 0.0)
    blink = max((max(0.0, 1 - abs(t - b) / 0.09) for b in blinks), default=0.0)
    smile = envelope(t, 12, 18) + envelope(t, 40, 44)
    talk = envelope(t, 22, 34) + envelope(t, 48, 56)
    surprise = envelope(t, 36, 37.5, 0.15)
    wink = envelope(t, 45.5, 46.2, 0.12)
    c["eyeBlinkLeft"] = min(1.0, blink + wink)
    c["eyeBlinkRight"] = blink
    c["mouthSmileLeft"] = c["mouthSmileRight"] = 0.85 * smile
    c["cheekSquintLeft"] = c["cheekSquintRight"] = 0.5 * smile
    c["browInnerUp"] = 0.8 * surprise + 0.1 * talk * abs(math.sin(t * 1.3))
    c["browOuterUpLeft"] = c["browOuterUpRight"] = 0.6 * surprise
    c["eyeWideLeft"] = c["eyeWideRight"] = 0.7 * surprise
    c["jawOpen"] = 0.9 * surprise + talk * max(0.0, math.sin(t * 9.0) * 0.5 + math.sin(t * 5.3) * 0.3)
    c["mouthFunnel"] = talk * max(0.0, math.sin(t * 2.1)) * 0.6
    c["mouthPucker"] = talk * max(0.0, math.sin(t * 1.7 + 1)) * 0.5
    c["mouthLowerDownLeft"] = c["mouthLowerDownRight"] = 0.4 * c["jawOpen"]
    c["browDownLeft"] = c["browDownRight"] = 0.5 * envelope(t, 5, 7)
    c["mouthFrownLeft"] = c["mouthFrownRight"] = 0.4 * envelope(t, 5, 7)
    glance = math.sin(t * 0.7) * envelope(t, 8, 11)
    c["eyeLookOutLeft"] = c["eyeLookInRight"] = max(0.0, glance)
    c["eyeLookInLeft"] = c["eyeLookOutRight"] = max(0.0, -glance)
    for name in c:
        if c[name] > 0 or name.startswith("eyeBlink"):
            c[name] += float(rng.normal(0, 0.01))
        c[name] = round(min(1.0, max(0.0, c[name])), 3)
    c["head.yaw"] = round(18 * math.sin(t * 0.45) + float(rng.normal(0, 0.2)), 2)
    c["head.pitch"] = round(6 * math.sin(t * 0.8 + 1) - 4 * surprise + float(rng.normal(0, 0.2)), 2)
    c["head.roll"] = round(8 * math.sin(t * 0.31) + float(rng.normal(0, 0.2)), 2)
    return c


def main(path: str) -> None:
    rng = np.random.default_rng(20261124)
    blinks = list(np.cumsum(rng.uniform(2.5, 5.0, 30)))
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for i in range(RATE_HZ * SECONDS):
            t = i / RATE_HZ
            line = {"t": round(t, 4), "source": "ifacialmocap", "channels": frame_channels(t, rng, blinks)}
            out.write(json.dumps(line, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the bundled demo performance trace.")
    parser.add_argument("path", nargs="?", default="ezvtb_node/data/demo_performance.jsonl.gz")
    main(parser.parse_args().path)
