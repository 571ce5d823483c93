"""TensorRT engines built from the stage ONNX graphs, cached on disk per GPU and TensorRT version.

A build takes minutes, so each engine is kept next to a ``.json`` key: GPU name, compute
capability, TensorRT version and the ONNX file's sha256 (the ONNX decides the precision). A
cached engine is used only when its key matches and its own sha256 is intact; otherwise it is
rebuilt (stale or corrupt) and replaced atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ezvtb_node.core.models.store import sha256_file
from ezvtb_node.install_hints import install_extra
from ezvtb_node.paths import engines_dir
from ezvtb_node.progress import progress_bar

if TYPE_CHECKING:
    from tqdm import tqdm

log = logging.getLogger(__name__)

DEFAULT_WORKSPACE_BYTES = 2 << 30


@dataclass(frozen=True)
class EngineCacheKey:
    """What a serialized engine depends on: an engine is only valid for exactly this."""

    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    onnx_sha256: str
    # Bump when tensorrt_ready_onnx() changes what TensorRT is given.
    graph_rewrites: str = "affine-grid-matmul-1"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def engine_cache_path(
    onnx_path: Path, gpu_name: str, compute_capability: str, tensorrt_version: str, root: Path | None = None
) -> Path:
    """Where the engine for ``onnx_path`` lives:
    ``<engines>/tensorrt/<gpu>-sm<cc>/trt-<version>/<set>/<stage>.engine``.

    ``<set>`` mirrors the ONNX folder relative to the engines folder (``tha3/separable/fp16``);
    an ONNX file elsewhere (``model_dir``) gets a folder named after a digest of its location.
    """
    base = root or engines_dir()
    folder = onnx_path.resolve().parent
    try:
        location = folder.relative_to(base.resolve())
    except ValueError:
        location = Path("external") / hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    device = f"{_slug(gpu_name)}-sm{compute_capability.replace('.', '')}"
    return base / "tensorrt" / device / f"trt-{tensorrt_version}" / location / f"{onnx_path.stem}.engine"


def read_cached_engine(path: Path, key: EngineCacheKey) -> tuple[bytes | None, str]:
    """The cached engine bytes if valid for ``key``, else (None, why it cannot be used)."""
    sidecar = path.with_suffix(".json")
    if not path.is_file() or not sidecar.is_file():
        return None, "not built yet"
    try:
        recorded = json.loads(sidecar.read_text())
    except ValueError:
        return None, f"{sidecar} is unreadable"
    changed = [name for name, value in key.as_dict().items() if recorded.get(name) != value]
    if changed:
        return None, f"stale ({', '.join(changed)} changed)"
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != recorded.get("engine_sha256"):
        return None, "corrupt (engine file does not match its sha256)"
    return data, "cached"


def write_cached_engine(path: Path, key: EngineCacheKey, data: bytes, fp16: bool) -> None:
    """Store an engine and its key; readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **key.as_dict(),
        "fp16": fp16,
        "engine_sha256": hashlib.sha256(data).hexdigest(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for target, payload in ((path, data), (path.with_suffix(".json"), json.dumps(record, indent=2).encode())):
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.replace(temporary, target)


def onnx_digest(onnx_path: Path) -> str:
    return sha256_file(onnx_path)


def build_serialized_engine(
    trt, onnx_path: Path, workspace_bytes: int = DEFAULT_WORKSPACE_BYTES, progress: bool = True
) -> tuple[bytes, bool]:
    """Build an engine from ``onnx_path``: (serialized engine, whether fp16 kernels were enabled).

    fp16 follows the graph: an fp16 engine set has fp16 tensors at its stage boundaries. TensorRT
    10 gets ``BuilderFlag.FP16`` for it; TensorRT 11 removed the flag and only builds strongly
    typed networks, where the fp16 types of the graph itself decide.
    """
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    weakly_typed = hasattr(trt.BuilderFlag, "FP16")
    flags = 0
    if not weakly_typed and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(tensorrt_ready_onnx(onnx_path), str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors or 'unknown error'}")
    half = _has_half_io(trt, network)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if half and weakly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
    bar = BuildProgress(trt, onnx_path.name, enabled=progress)
    bar.attach(config)
    serialized = builder.build_serialized_network(network, config)
    bar.done(ok=serialized is not None)
    if serialized is None:
        raise RuntimeError(
            f"TensorRT could not build an engine from {onnx_path} (see the TensorRT messages above; "
            f"a larger workspace than {workspace_bytes >> 20} MiB may help)"
        )
    return bytes(serialized), half


def tensorrt_ready_onnx(onnx_path: Path) -> bytes:
    """The graph as TensorRT gets it: operators its parser lacks (AffineGrid) rewritten."""
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            f"the TensorRT backend needs the onnx package: {install_extra('tensorrt')}"
        ) from exc
    from ezvtb_node.core.models.lowering import lower_affine_grid

    try:
        model = onnx.load(str(onnx_path))
    except Exception as exc:  # onnx raises DecodeError and others for damaged files
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: not a readable ONNX file ({exc})") from exc
    lower_affine_grid(model)
    return model.SerializeToString()


def _has_half_io(trt, network) -> bool:
    tensors = [network.get_input(i) for i in range(network.num_inputs)]
    tensors += [network.get_output(i) for i in range(network.num_outputs)]
    return any(tensor.dtype == trt.DataType.HALF for tensor in tensors)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "gpu"


class BuildProgress:
    """Progress of one engine build on stderr: a start and a finish line (a first build takes
    minutes: users must see why), and TensorRT's own top-level phases as a tqdm bar on a terminal
    where the installed version reports them (``IProgressMonitor``, TensorRT 10+)."""

    def __init__(self, trt, label: str, enabled: bool):
        self._trt, self.label, self.enabled = trt, label, enabled
        self.started = time.monotonic()
        self.monitor = None
        self._bar: tqdm | None = None
        self._phase: str | None = None
        if enabled:
            sys.stderr.write(f"TensorRT: building {label} (minutes on the first run; cached afterwards)\n")

    def attach(self, config) -> None:
        base = getattr(self._trt, "IProgressMonitor", None)
        if not self.enabled or base is None:
            return
        self.monitor = _make_monitor(base, self._draw)
        config.progress_monitor = self.monitor

    def done(self, ok: bool) -> None:
        if self._bar is not None:
            self._bar.close()
        if self.enabled:
            state = "done" if ok else "FAILED"
            sys.stderr.write(f"TensorRT: {self.label} {state} in {time.monotonic() - self.started:.0f} s\n")

    def _draw(self, phase: str, step: int, total: int) -> None:
        bar = self._bar
        if phase != self._phase or bar is None:
            if bar is not None:
                bar.close()
            bar = self._bar = progress_bar(f"TensorRT {self.label}: {phase}", total)
            self._phase = phase
        bar.update(step - bar.n)


def _make_monitor(base, draw):
    """An ``IProgressMonitor`` that draws the top-level build phases (nested ones are too chatty)."""

    class Monitor(base):
        def __init__(self):
            base.__init__(self)
            self.top: dict[str, int] = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            if parent_phase is None:
                self.top[phase_name] = num_steps
                draw(phase_name, 0, num_steps)

        def step_complete(self, phase_name, step):
            if phase_name in self.top:
                draw(phase_name, step + 1, self.top[phase_name])
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            self.top.pop(phase_name, None)

    return Monitor()
