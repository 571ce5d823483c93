"""Import the THA3 ONNX sets released by ezvtuber-rt (the seed's model files) as engine sets.

Their layout is ``data/tha3/{seperable,standard}/{fp32,fp16}/{decomposer,combiner,morpher,rotator,
editor}.onnx`` (five graphs; "seperable" is their spelling). They cut THA3 differently from our
export: their combiner already pastes the morphed eyebrows into the face crop and runs the first
half of the face morpher, handing an encoder tensor to the morpher. The importer validates every
name, shape and dtype, then rewrites the five graphs into our four stages, wired by name:

===========  ===============================  ===================================================
stage        made from                        changes
===========  ===============================  ===================================================
``image``    decomposer                       outputs reordered to our order
``eyebrow``  combiner                         ``eyebrow_background_layer`` → ``background_layer``;
                                              the encoder output → ``face_encoding``
``face``     morpher                          ``im_morpher_crop`` → ``eyebrow_image``; the encoder
                                              input → ``face_encoding``
``body``     rotator + editor, merged         ``morphed_image`` → ``face_morphed_full``;
                                              ``cv_result`` → ``bgra`` (the float ``result`` dropped)
===========  ===============================  ===================================================

The result is an ordinary engine set (manifest with ``"source": "ezvtuber-rt"`` and the stage
I/O), so every backend and both caches run it. Needs the ``onnx`` package (the ``export`` group).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ezvtb_node.core.models.layout import EXPORT_FORMAT, PRECISIONS, STAGE_FILES, STAGE_IO
from ezvtb_node.core.models.lowering import rewrite_file, rewrite_for_runtimes
from ezvtb_node.core.models.store import (
    EngineError,
    EngineSet,
    engine_set_dir,
    load_engine_set,
    sha256_file,
    utc_timestamp,
    write_engine_set,
)
from ezvtb_node.install_hints import install_extra

SOURCE = "ezvtuber-rt"
GRAPHS = ("decomposer", "combiner", "morpher", "rotator", "editor")
VARIANT_FOLDERS = {"seperable": "separable", "separable": "separable", "standard": "standard"}
FLOAT = "float"  # placeholder for the set's float type: float32 in fp32 sets, float16 in fp16 sets
ENCODING = "face_encoding"

# name -> (dtype, shape); FLOAT means the set's float type. Poses stay float32 in fp16 sets.
_IMAGE = (FLOAT, (1, 4, 512, 512))
_LAYER = (FLOAT, (1, 4, 128, 128))
_CROP = (FLOAT, (1, 4, 192, 192))
_HALF = (FLOAT, (1, 4, 256, 256))
_GRID = (FLOAT, (1, 2, 512, 512))
_BGRA = ("uint8", (512, 512, 4))
SPEC: dict[str, tuple[dict, dict]] = {
    "decomposer": (
        {"input_image": _BGRA},
        {"background_layer": _LAYER, "eyebrow_layer": _LAYER, "image_prepared": _IMAGE},
    ),
    "combiner": (
        {
            "image_prepared": _IMAGE,
            "eyebrow_background_layer": _LAYER,
            "eyebrow_layer": _LAYER,
            "eyebrow_pose": ("float32", (1, 12)),
        },
        {"eyebrow_image": _CROP},
    ),
    "morpher": (
        {"image_prepared": _IMAGE, "im_morpher_crop": _CROP, "face_pose": ("float32", (1, 27))},
        {"face_morphed_full": _IMAGE, "face_morphed_half": _HALF},
    ),
    "rotator": (
        {"face_morphed_half": _HALF, "rotation_pose": ("float32", (1, 6))},
        {"full_warped_image": _IMAGE, "full_grid_change": _GRID},
    ),
    "editor": (
        {
            "morphed_image": _IMAGE,
            "rotated_warped_image": _IMAGE,
            "rotated_grid_change": _GRID,
            "rotation_pose": ("float32", (1, 6)),
        },
        {"cv_result": _BGRA},
    ),
}
# Outputs allowed beside the specified ones (not used by the core).
_OPTIONAL_OUTPUTS = {"editor": {"result"}}


class Tha3ImportError(ValueError):
    """A folder is not a valid ezvtuber-rt THA3 set; the message lists every problem found."""


@dataclass(frozen=True)
class Tha3Set:
    """A validated ezvtuber-rt set: where it is, what it is, and the name of its encoder tensor."""

    folder: Path
    variant: str
    precision: str
    encoder_tensor: str


def _onnx():
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(f"importing ONNX sets needs the onnx package: {install_extra('export')}") from exc
    return onnx


def find_tha3_sets(src: Path) -> list[tuple[Path, str, str]]:
    """(folder, variant, precision) of every set under ``src``: the ezvtuber-rt ``data`` folder,
    its ``tha3`` folder, one variant folder, or one set folder."""
    src = Path(src).expanduser()
    if not src.is_dir():
        raise Tha3ImportError(f"{src} is not a folder")
    if any((src / f"{graph}.onnx").exists() for graph in GRAPHS):
        variant = VARIANT_FOLDERS.get(src.parent.name)
        if variant is None or src.name not in PRECISIONS:
            raise Tha3ImportError(
                f"{src} holds THA3 graphs but is not inside .../{{seperable,standard}}/{{fp32,fp16}}/, "
                f"so its variant and precision are unknown (got .../{src.parent.name}/{src.name})"
            )
        return [(src, variant, src.name)]
    roots = [src / "tha3", src / "data" / "tha3", src / "models" / "tha3", src / "data" / "models" / "tha3"]
    variant_dirs = [
        (root / name, variant) for root in [src, *roots] for name, variant in VARIANT_FOLDERS.items()
    ]
    if src.name in VARIANT_FOLDERS:
        variant_dirs.append((src, VARIANT_FOLDERS[src.name]))
    # resolved folder -> (folder, variant, precision); a folder is reachable by several routes
    sets: dict[Path, tuple[Path, str, str]] = {}
    for folder, variant in variant_dirs:
        for precision in PRECISIONS:
            if (folder / precision).is_dir():
                sets.setdefault((folder / precision).resolve(), (folder / precision, variant, precision))
    found = list(sets.values())
    if not found:
        raise Tha3ImportError(
            f"no ezvtuber-rt THA3 set under {src}: expected data/tha3/{{seperable,standard}}/{{fp32,fp16}}/ "
            f"holding {', '.join(g + '.onnx' for g in GRAPHS)}"
        )
    return found


def validate_tha3_set(folder: Path, variant: str, precision: str) -> Tha3Set:
    """Check the five graphs' names, shapes and dtypes against the ezvtuber-rt contract.

    Raises Tha3ImportError listing every difference (expected vs found).
    """
    models = _load_models(folder)
    problems: list[str] = []
    float_type = "float16" if precision == "fp16" else "float32"
    for graph, (inputs, outputs) in SPEC.items():
        found_inputs, found_outputs = _io_types(models[graph])
        problems += _compare(f"{graph}.onnx input", inputs, found_inputs, float_type)
        problems += _compare(f"{graph}.onnx output", outputs, found_outputs, float_type)
    encoder = _encoder_tensor(models, float_type, problems)
    if problems:
        raise Tha3ImportError(
            f"{folder} is not a valid ezvtuber-rt THA3 {variant}/{precision} set:\n  - "
            + "\n  - ".join(problems)
        )
    return Tha3Set(Path(folder), variant, precision, encoder)


def import_tha3_set(src_dir: Path, engines_dir: Path | None = None, force: bool = False) -> list[Path]:
    """Import every ezvtuber-rt THA3 set under ``src_dir`` into ``engines_dir`` (default: the
    managed engines folder). Returns the engine set folders written (or already up to date).

    A set built here from THA3 weights is not replaced unless ``force``.
    """
    written = []
    for folder, variant, precision in find_tha3_sets(Path(src_dir)):
        tha3_set = validate_tha3_set(folder, variant, precision)
        target = engine_set_dir(variant, precision, engines_dir)
        sources = {graph: sha256_file(folder / f"{graph}.onnx") for graph in GRAPHS}
        existing = _existing_manifest(target)
        if existing is not None and existing.get("source") != SOURCE and not force:
            raise Tha3ImportError(
                f"{target} already holds a {variant}/{precision} set built from THA3 weights; "
                f"pass force=True (--force) to replace it with the imported one"
            )
        up_to_date = (
            existing is not None
            and existing.get("export_format") == EXPORT_FORMAT
            and existing.get("source_sha256") == sources
        )
        if up_to_date and not force:
            written.append(target)
            continue
        _install_converted_set(tha3_set, sources, target)
        written.append(target)
    return written


# -- validation helpers ---------------------------------------------------------------------------
def _load_models(folder: Path) -> dict:
    onnx = _onnx()
    missing = [f"{graph}.onnx" for graph in GRAPHS if not (folder / f"{graph}.onnx").is_file()]
    if missing:
        raise Tha3ImportError(f"{folder} is missing {', '.join(missing)} (a set has {len(GRAPHS)} graphs)")
    models = {}
    for graph in GRAPHS:
        try:
            models[graph] = onnx.load(str(folder / f"{graph}.onnx"))
        except Exception as exc:  # onnx raises DecodeError and others for damaged files
            raise Tha3ImportError(
                f"{folder / (graph + '.onnx')} is not a readable ONNX file ({exc})"
            ) from exc
    return models


def _io_types(model) -> tuple[dict, dict]:
    from onnx import helper

    initializers = {t.name for t in model.graph.initializer}

    def describe(info):
        kind = info.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(kind.elem_type).name if kind.elem_type else "undefined"
        shape = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in kind.shape.dim
        )
        return dtype, shape

    inputs = {i.name: describe(i) for i in model.graph.input if i.name not in initializers}
    return inputs, {o.name: describe(o) for o in model.graph.output}


def _compare(what: str, expected: dict, found: dict, float_type: str) -> list[str]:
    problems = []
    for name, (dtype, shape) in expected.items():
        dtype = float_type if dtype == FLOAT else dtype
        if name not in found:
            problems.append(f"{what} {name!r} ({dtype} {shape}) is missing (found: {sorted(found)})")
        elif found[name] != (dtype, shape):
            problems.append(
                f"{what} {name!r} expected {dtype} {shape}, got {found[name][0]} {found[name][1]}"
            )
    return problems


def _encoder_tensor(models: dict, float_type: str, problems: list[str]) -> str:
    """The one tensor the combiner hands to the morpher besides the face crop (its name is an
    internal node name of the exporter and differs between separable and standard)."""
    _, combiner_out = _io_types(models["combiner"])
    morpher_in, _ = _io_types(models["morpher"])
    extra_out = {n: t for n, t in combiner_out.items() if n not in SPEC["combiner"][1]}
    extra_in = {n: t for n, t in morpher_in.items() if n not in SPEC["morpher"][0]}
    shared = sorted(set(extra_out) & set(extra_in))
    if len(extra_out) != 1 or len(extra_in) != 1 or len(shared) != 1:
        problems.append(
            "combiner.onnx must have exactly one extra output (the face encoder tensor) that is the one "
            f"extra input of morpher.onnx; combiner extra outputs {sorted(extra_out)}, morpher extra "
            f"inputs {sorted(extra_in)}"
        )
        return ""
    name = shared[0]
    (dtype, shape), (in_dtype, in_shape) = extra_out[name], extra_in[name]
    if (dtype, shape) != (in_dtype, in_shape) or dtype != float_type or len(shape) != 4:
        problems.append(
            f"encoder tensor {name!r}: combiner gives {dtype} {shape}, morpher takes {in_dtype} {in_shape}; "
            f"expected the same {float_type} 4-D tensor on both sides"
        )
    _check_no_unknown_outputs(models, problems, name)
    return name


def _check_no_unknown_outputs(models: dict, problems: list[str], encoder: str) -> None:
    for graph, (_, outputs) in SPEC.items():
        _, found = _io_types(models[graph])
        allowed = (
            set(outputs) | _OPTIONAL_OUTPUTS.get(graph, set()) | ({encoder} if graph == "combiner" else set())
        )
        unknown = sorted(set(found) - allowed)
        if unknown:
            problems.append(f"{graph}.onnx has unexpected outputs {unknown}")


# -- conversion -----------------------------------------------------------------------------------
def _existing_manifest(target: Path) -> dict | None:
    try:
        return load_engine_set(target).manifest
    except EngineError:
        return None


def _install_converted_set(tha3_set: Tha3Set, sources: dict[str, str], target: Path) -> None:
    onnx = _onnx()
    models = _load_models(tha3_set.folder)
    stages = {
        "image": _image_stage(models["decomposer"]),
        "eyebrow": _renamed(
            models["combiner"],
            {"eyebrow_background_layer": "background_layer", tha3_set.encoder_tensor: ENCODING},
        ),
        "face": _renamed(
            models["morpher"], {"im_morpher_crop": "eyebrow_image", tha3_set.encoder_tensor: ENCODING}
        ),
        "body": _body_stage(models["rotator"], models["editor"]),
    }
    for model in stages.values():
        # As our own export does (each a no-op where the graphs have nothing to rewrite).
        rewrite_for_runtimes(model, half=tha3_set.precision == "fp16")

    def save_stages(staging: Path) -> dict:
        io = {}
        for stage, model in stages.items():
            _save(onnx, model, staging / STAGE_FILES[stage])
            inputs, outputs = _io_types(model)
            io[stage] = {"inputs": list(inputs), "outputs": list(outputs)}
        return {
            "export_format": EXPORT_FORMAT,
            "source": SOURCE,
            "variant": tha3_set.variant,
            "precision": tha3_set.precision,
            "source_folder": str(tha3_set.folder),
            "source_sha256": sources,
            "encoder_tensor": tha3_set.encoder_tensor,
            "io": io,
            "imported_at": utc_timestamp(),
        }

    write_engine_set(target, f"import-{tha3_set.precision}", save_stages)


def upgrade_imported_set(engine: EngineSet) -> EngineSet:
    """Bring a set imported by an older version up to ``EXPORT_FORMAT`` in place: the rewrites the
    importer applies today (``rewrite_for_runtimes``), run on the set's own stage graphs. Weights,
    stage I/O and source records are kept; the manifest gets the new format and file digests and
    says what it was upgraded from. Never rebuilt from other weights, never deleted: a failure
    leaves the old set as it was."""
    _onnx()  # without it, the error that says how to install it

    def rewrite_stages(staging: Path) -> dict:
        for name in STAGE_FILES.values():
            rewrite_file(engine.path / name, staging / name, half=engine.precision == "fp16")
        return {
            **engine.manifest,
            "export_format": EXPORT_FORMAT,
            "upgraded_from_format": engine.manifest.get("export_format"),
            "upgraded_at": utc_timestamp(),
        }

    return write_engine_set(engine.path, f"upgrade-{engine.precision}", rewrite_stages)


def _save(onnx, model, path: Path) -> None:
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _rename_in_graph(graph, mapping: dict[str, str]) -> None:
    for node in graph.node:
        node.input[:] = [mapping.get(name, name) for name in node.input]
        node.output[:] = [mapping.get(name, name) for name in node.output]
    for collection in (graph.input, graph.output, graph.value_info):
        for info in collection:
            info.name = mapping.get(info.name, info.name)


def _renamed(model, mapping: dict[str, str]):
    copy = type(model)()
    copy.CopyFrom(model)
    _rename_in_graph(copy.graph, mapping)
    return copy


def _image_stage(decomposer):
    stage = _renamed(decomposer, {})
    order = STAGE_IO["image"][1]
    outputs = sorted(stage.graph.output, key=lambda o: order.index(o.name))
    copies = [type(o)() for o in outputs]
    for copy, output in zip(copies, outputs, strict=True):
        copy.CopyFrom(output)
    del stage.graph.output[:]
    stage.graph.output.extend(copies)
    return stage


def _body_stage(rotator, editor):
    """rotator and editor in one graph: editor names get a prefix so nothing collides, then its
    inputs are connected to the rotator's outputs and the shared pose."""
    from onnx import compose

    _check_same_opsets(rotator, editor)
    prefix = "editor/"
    edited = compose.add_prefix(editor, prefix)
    connect = {
        prefix + "rotated_warped_image": "full_warped_image",
        prefix + "rotated_grid_change": "full_grid_change",
        prefix + "rotation_pose": "rotation_pose",
        prefix + "morphed_image": "face_morphed_full",
        prefix + "cv_result": "bgra",
    }
    _rename_in_graph(edited.graph, connect)
    body = _renamed(rotator, {})
    graph = body.graph
    graph.node.extend(edited.graph.node)
    graph.initializer.extend(edited.graph.initializer)
    graph.value_info.extend(edited.graph.value_info)
    # Editor inputs that are now rotator outputs or the rotator's pose input are connected.
    connected = {i.name for i in graph.input} | {o.name for o in rotator.graph.output}
    graph.input.extend(i for i in edited.graph.input if i.name not in connected)
    frame = next(o for o in edited.graph.output if o.name == "bgra")
    del graph.output[:]
    graph.output.append(frame)
    graph.name = "tha3_body_from_ezvtuber_rt"
    return body


def _check_same_opsets(first, second) -> None:
    opsets = [{o.domain: o.version for o in m.opset_import} for m in (first, second)]
    if opsets[0] != opsets[1]:
        raise Tha3ImportError(
            f"rotator.onnx and editor.onnx use different opsets ({opsets[0]} vs {opsets[1]})"
        )
