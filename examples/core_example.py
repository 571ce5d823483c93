"""The seed's core example, runnable as written (corrected: BGRA input, copies of reused frames).

.venv/bin/python examples/core_example.py [CHARACTER.png] [OUT_DIR]
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ezvtb_interface import get_core
from ezvtb_node.character import load_character, sample_character_path

character = Path(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else sample_character_path()
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("example-out")
out_dir.mkdir(exist_ok=True)

core = get_core(
    device_id=0,
    model_seperable=True,
    model_half=True,
    model_cache=True,
    use_interpolation=False,
)
print(core.describe())

core.setImage(load_character(character))  # uint8 (512, 512, 4) BGRA

pose = np.zeros((1, 45), dtype=np.float32)
for i in range(5):
    pose[0, 39] = -0.8 + 0.4 * i  # head_x: turn the head from one side to the other
    pose[0, 26] = 0.5 * (i % 2)  # mouth_aaa: open every other frame
    frames = core.inference(pose)  # arrays are reused by the next call: copy to keep
    for j, frame in enumerate(frames):
        rgba = frame[:, :, [2, 1, 0, 3]]  # BGRA -> RGBA for Pillow
        Image.fromarray(np.ascontiguousarray(rgba), "RGBA").save(out_dir / f"frame_{i:02d}_{j}.png")
print(f"wrote {len(list(out_dir.glob('*.png')))} PNG files to {out_dir}")
