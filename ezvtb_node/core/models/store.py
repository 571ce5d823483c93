"""The one on-disk store of model files: THA3 engine sets, RIFE and SR graphs.

Under the engines folder (``ezvtb_node.paths.engines_dir()``):

* ``tha3/<variant>/<precision>/``: an engine set, the four stage graphs (``image.onnx``,
  ``eyebrow.onnx``, ``face.onnx``, ``body.onnx``) and ``manifest.json``. The manifest records what
  the files were built from (weights sha256, or the imported source), how (export format, opset,
  versions) and the sha256 of each file, so missing, stale or corrupt files are detected.
* ``rife_512/x<n>/<precision>.onnx``: RIFE interpolation graphs (ezvtuber-rt's released layout).
* ``sr/<family>_x<s>/<precision>.onnx``: super-resolution graphs.

Every write lands in a temporary name first and replaces the target in one step, so a reader
never sees a half-written file or set.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ezvtb_node import paths
from ezvtb_node.core.models.layout import MANIFEST, PRECISIONS, STAGE_FILES, VARIANTS


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
    check_variant(variant, precision)
    return (root or paths.engines_dir()) / "tha3" / variant / precision


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


def install_engine_set(staging: Path, target: Path, manifest: dict) -> None:
    """Write ``manifest`` into the finished ``staging`` folder and put it in ``target``'s place, so a
    reader never sees a half-written set."""
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    # The old set is moved aside, not deleted, until the new one is in place: a crash in between
    # leaves it on disk (an imported set may have no other copy).
    retired = target.with_name(f".{target.name}.replaced-{os.getpid()}") if target.exists() else None
    if retired is not None:
        paths.retry_while_held(lambda: target.rename(retired), target)
    try:
        paths.retry_while_held(lambda: staging.rename(target), target)
    except BaseException:
        if retired is not None:  # the new set could not take its place: the old one goes back
            retired.rename(target)
        raise
    if retired is not None:
        # Best effort: a scanner holding an old file past the retries leaves the hidden folder.
        with contextlib.suppress(OSError):
            paths.retry_while_held(lambda: shutil.rmtree(retired), retired)


def write_engine_set(target: Path, purpose: str, write_stages: Callable[[Path], dict]) -> EngineSet:
    """Make the engine set at ``target`` anew, for every builder (weights, import, upgrade).

    ``write_stages(staging)`` writes the four stage files into a fresh folder beside ``target`` and
    returns the manifest; the store records each file's sha256 and puts the folder in ``target``'s
    place (``install_engine_set``). If anything fails, the staging folder (named after ``purpose``)
    is removed and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{purpose}-", dir=target.parent))
    try:
        manifest = write_stages(staging)
        manifest["files"] = {stage: sha256_file(staging / name) for stage, name in STAGE_FILES.items()}
        install_engine_set(staging, target, manifest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    # The files were hashed a moment ago, in this very folder.
    return load_engine_set(target, verify_files=False)


def utc_timestamp() -> str:
    """When a set was built, imported or upgraded, as its manifest records it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def list_engine_sets(root: Path | None = None) -> list[tuple[Path, EngineSet | None, str]]:
    """Every engine set folder under the engines dir with its state ('ok' or what is wrong)."""
    base = (root or paths.engines_dir()) / "tha3"
    found: list[tuple[Path, EngineSet | None, str]] = []
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


def check_variant(variant: str, precision: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")




def _root(engines_dir: Path | None) -> Path:
    return Path(engines_dir) if engines_dir is not None else paths.engines_dir()


def rife_model_path(scale: int, precision: str, engines_dir: Path | None = None) -> Path:
    return _root(engines_dir) / "rife_512" / f"x{scale}" / f"{precision}.onnx"


def sr_model_path(family: str, scale: int, precision: str, engines_dir: Path | None = None) -> Path:
    return _root(engines_dir) / "sr" / f"{family}_x{scale}" / f"{precision}.onnx"


def _prefer(paths: dict[str, Path], half: bool) -> Path | None:
    order = ("fp16", "fp32") if half else ("fp32", "fp16")
    return next((paths[p] for p in order if paths[p].is_file()), None)


def find_rife_model(scale: int, half: bool, engines_dir: Path | None = None) -> Path | None:
    """The stored RIFE file for ``scale``, the requested precision first."""
    return _prefer({p: rife_model_path(scale, p, engines_dir) for p in PRECISIONS}, half)


def find_sr_model(family: str, scale: int, half: bool, engines_dir: Path | None = None) -> Path | None:
    """The stored SR file of ``family`` ("waifu2x" / "realesrgan") for ``scale``."""
    return _prefer({p: sr_model_path(family, scale, p, engines_dir) for p in PRECISIONS}, half)


def install_model_file(source: Path, destination: Path) -> Path:
    """Copy ``source`` to ``destination`` through a temporary file, so a failed copy never leaves a
    broken model where a working one was."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        paths.retry_while_held(lambda: os.replace(tmp, destination), destination)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return destination
