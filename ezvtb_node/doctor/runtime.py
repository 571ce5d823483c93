"""Checks of the Python environment: interpreter, packages, ONNX Runtime, GPUs, Spout, libjpeg-turbo."""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ezvtb_node.doctor.check import Check
from ezvtb_node.install_hints import install_extra, is_source_checkout, pip_install, python_command
from ezvtb_node.onnxruntime_packages import ONNXRUNTIME_VARIANTS

MIN_PYTHON = (3, 10)


@dataclass(frozen=True)
class Package:
    label: str
    module: str
    distribution: str
    required: bool
    install: str


PACKAGES = (
    Package("numpy", "numpy", "numpy", True, pip_install("numpy")),
    # ONNX Runtime is optional (an extra): `onnxruntime packages` and `onnxruntime providers` report it.
    Package(
        "openvino",
        "openvino",
        "openvino",
        False,
        pip_install("openvino") + " (runs THA3 about twice as fast as ONNX Runtime on a CPU)",
    ),
    Package("opencv", "cv2", "opencv-python-headless", True, pip_install("opencv-python-headless")),
    Package("PyTurboJPEG", "turbojpeg", "PyTurboJPEG", True, pip_install("PyTurboJPEG>=1.8,<2")),
    Package("sqlite-utils", "sqlite_utils", "sqlite-utils", True, pip_install("sqlite-utils")),
    Package("python-osc", "pythonosc", "python-osc", True, pip_install("python-osc")),
    Package("aiohttp", "aiohttp", "aiohttp", True, pip_install("aiohttp")),
    Package("pillow", "PIL", "pillow", True, pip_install("pillow")),
)

# Wheels that provide the same module under another distribution name.
_ALTERNATIVE_DISTRIBUTIONS = {
    "opencv-python-headless": ("opencv-python", "opencv-contrib-python", "opencv-contrib-python-headless"),
}

# The extra that installs each variant, for the fix of a clash (the GPU one is usually the one wanted).
_VARIANT_EXTRA = {
    "onnxruntime-gpu": "nvidia",
    "onnxruntime-directml": "directml",
    "onnxruntime": "onnxruntime",
}

# The oldest NVIDIA driver that runs each CUDA major version's runtime through CUDA minor version
# compatibility, as (Linux, Windows). NVIDIA CUDA Toolkit release notes and the CUDA Compatibility
# guide: CUDA 11.x >= 450.80.02 / 452.39, CUDA 12.x >= 525.60.13 / 528.33, CUDA 13.x >= 580 (the R580
# branch; 580.65.06 is the CUDA 13.0 Linux driver).
MIN_DRIVER_FOR_CUDA: dict[int, tuple[str, str]] = {
    11: ("450.80.02", "452.39"),
    12: ("525.60.13", "528.33"),
    13: ("580.65.06", "580"),
}
# The CUDA runtime wheels (onnxruntime-gpu[cuda] and torch bring them); their version is the CUDA version.
_CUDA_RUNTIME_WHEEL = re.compile(r"^nvidia-cuda-runtime(-cu\d+)?$")


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    where = f"Python {version} ({sys.executable})"
    if sys.version_info[:2] < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        return Check("python", "fail", where, f"install Python {wanted} or newer and recreate the venv")
    if sys.maxsize <= 2**32:
        return Check("python", "fail", f"{where} is 32-bit", "install a 64-bit Python (the models need it)")
    return Check("python", "ok", where)


def _installed_version(package: Package) -> str:
    for name in (package.distribution, *_ALTERNATIVE_DISTRIBUTIONS.get(package.distribution, ())):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "version unknown"


def check_package(package: Package) -> Check:
    name = f"package {package.label}"
    try:
        importlib.import_module(package.module)
    except Exception as exc:  # a broken install raises anything from ImportError to OSError
        status = "fail" if package.required else "warn"
        why = f"cannot import {package.module}: {type(exc).__name__}: {exc}"
        if not package.required:
            why += " (optional)"
        return Check(name, status, why, package.install)
    return Check(name, "ok", _installed_version(package))


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _ships_onnxruntime_module(distribution: metadata.Distribution, name: str) -> bool:
    top_level = distribution.read_text("top_level.txt")
    if top_level is not None:
        return "onnxruntime" in top_level.split()
    files = distribution.files
    if files is not None:
        return any(str(f).replace("\\", "/") == "onnxruntime/__init__.py" for f in files)
    return name in ONNXRUNTIME_VARIANTS


def installed_onnxruntime_variants(search_path: Iterable[str] | None = None) -> dict[str, str]:
    """{distribution name: version} of every installed package that ships the ``onnxruntime``
    module. ``search_path``: where to look (default sys.path; tests pass a folder of fake
    ``.dist-info`` folders)."""
    path = list(search_path) if search_path is not None else None
    found: dict[str, str] = {}
    for distribution in metadata.distributions(**({"path": path} if path is not None else {})):
        name = _normalized(distribution.metadata["Name"] or "")
        if (
            name.startswith("onnxruntime")
            and name not in found
            and _ships_onnxruntime_module(distribution, name)
        ):
            found[name] = distribution.version
    return dict(sorted(found.items()))


def _clash_fix(variants: Iterable[str]) -> str:
    """How to end a clash: remove every variant, then install the one wanted (the GPU one if any)."""
    names = " ".join(variants)
    wanted = next(
        (v for v in ("onnxruntime-gpu", "onnxruntime-directml") if v in names.split()), "onnxruntime"
    )
    extra = _VARIANT_EXTRA[wanted]
    if is_source_checkout():
        gpu = "none" if extra == "onnxruntime" else extra
        return (
            f"python run.py --gpu {gpu} cli doctor (uninstalls every ONNX Runtime package, then installs "
            f"what --gpu {gpu} needs); by hand: {python_command()} -m pip uninstall -y {names}, then "
            + install_extra(extra)
        )
    return f"{python_command()} -m pip uninstall -y {names}, then {install_extra(extra)}"


def check_onnxruntime_packages(search_path: Iterable[str] | None = None) -> Check:
    """At most one ONNX Runtime package: two of them install the same module over each other.
    ``search_path``: where installed packages are looked up (default sys.path; a seam for tests)."""
    name = "onnxruntime packages"
    variants = installed_onnxruntime_variants(search_path)
    if not variants:
        return Check(
            name, "ok", "none installed (optional: OpenVINO runs the CPU; GPU runtimes come with an extra)"
        )
    listing = ", ".join(f"{dist} {version}" for dist, version in variants.items())
    if len(variants) == 1:
        return Check(name, "ok", listing)
    return Check(
        name,
        "fail",
        f"{listing} are installed side by side: each installs the same `onnxruntime` module over the "
        "other's files, so neither is intact",
        _clash_fix(variants),
    )


def check_onnxruntime_providers() -> Check:
    try:
        import onnxruntime
    except ImportError as exc:
        if importlib.util.find_spec("openvino") is not None:
            return Check(
                "onnxruntime providers",
                "ok",
                "ONNX Runtime not installed (optional): OpenVINO runs the CPU; for a GPU install the "
                "nvidia or directml extra",
            )
        return Check(
            "onnxruntime providers",
            "fail",
            f"no CPU runtime: neither openvino nor onnxruntime imports ({exc})",
            pip_install("openvino"),
        )
    except Exception as exc:  # a damaged install (two variants over each other) raises anything
        return Check(
            "onnxruntime providers",
            "fail",
            f"onnxruntime does not import: {type(exc).__name__}: {exc}",
            "see the `onnxruntime packages` check; reinstall one ONNX Runtime package",
        )
    providers = onnxruntime.get_available_providers()
    detail = ", ".join(providers) or "none"
    if "CPUExecutionProvider" not in providers:
        return Check(
            "onnxruntime providers",
            "fail",
            detail,
            "reinstall ONNX Runtime: "
            + pip_install("--force-reinstall", "--no-deps", "onnxruntime")
            + " (or the variant installed)",
        )
    gpu_providers = {"CUDAExecutionProvider", "TensorrtExecutionProvider", "DmlExecutionProvider"}
    if not gpu_providers.intersection(providers):
        detail += " (CPU only)"
    return Check("onnxruntime providers", "ok", detail)


def cuda_device_count() -> tuple[int, str]:
    """(devices, what was found) through the NVIDIA driver library itself; no CUDA toolkit needed."""
    names = ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so")
    library = None
    for library_name in names:
        try:
            library = ctypes.CDLL(library_name)
            break
        except OSError:
            continue
    if library is None:
        return 0, "no NVIDIA driver (libcuda) found"
    if library.cuInit(0) != 0:
        return 0, "the NVIDIA driver is installed but cuInit failed (no usable GPU?)"
    count = ctypes.c_int(0)
    if library.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0, "cuDeviceGetCount failed"
    devices = []
    for index in range(count.value):
        device = ctypes.c_int(0)
        buffer = ctypes.create_string_buffer(256)
        if library.cuDeviceGet(ctypes.byref(device), index) == 0 and (
            library.cuDeviceGetName(buffer, len(buffer), device) == 0
        ):
            devices.append(f"{index}: {buffer.value.decode(errors='replace')}")
    return count.value, "; ".join(devices) or f"{count.value} device(s)"


def check_cuda() -> Check:
    count, found = cuda_device_count()
    if count == 0:
        return Check(
            "CUDA device",
            "warn",
            f"{found}: the node renders on the CPU (a few frames per second)",
            "on a machine with an NVIDIA GPU install its driver; otherwise nothing to do",
        )
    return Check("CUDA device", "ok", found)


@dataclass(frozen=True)
class DriverInfo:
    """What the machine says about its NVIDIA driver. ``version``: the driver version as
    nvidia-smi prints it (``"581.57"``); ``cuda_api``: the newest CUDA version the driver runs,
    from the driver API (``(13, 0)``); either may be None. ``found``: where it came from, or why
    nothing came."""

    version: str | None
    cuda_api: tuple[int, int] | None
    found: str


def parse_nvidia_smi_driver_version(output: str) -> str | None:
    """The driver version from ``nvidia-smi --query-gpu=driver_version --format=csv,noheader``
    (one line per GPU, all the same driver); None when the output holds no version."""
    for line in output.splitlines():
        if re.fullmatch(r"\d+(\.\d+)+", line.strip()):
            return line.strip()
    return None


def _nvidia_smi_driver_version(executable: str = "nvidia-smi") -> tuple[str | None, str]:
    found = shutil.which(executable)
    if found is None:
        return None, "nvidia-smi not found"
    try:
        result = subprocess.run(
            [found, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"nvidia-smi did not answer ({exc})"
    version = parse_nvidia_smi_driver_version(result.stdout) if result.returncode == 0 else None
    if version is None:
        said = (result.stderr or result.stdout).strip().splitlines()
        first = said[0] if said else f"exit {result.returncode}"
        return None, f"nvidia-smi answered without a driver version ({first})"
    return version, "nvidia-smi"


def _cuda_driver_api_version() -> tuple[int, int] | None:
    """cuDriverGetVersion from the driver library itself (no cuInit needed), e.g. (13, 0)."""
    names = ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so")
    for library_name in names:
        try:
            library = ctypes.CDLL(library_name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        if library.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value > 0:
            return version.value // 1000, (version.value % 1000) // 10
    return None


def nvidia_driver_info() -> DriverInfo:
    """The installed NVIDIA driver: its version from nvidia-smi, its CUDA level from the driver API."""
    version, found = _nvidia_smi_driver_version()
    cuda_api = _cuda_driver_api_version()
    if cuda_api is not None:
        found += f"; driver API: CUDA {cuda_api[0]}.{cuda_api[1]}"
    return DriverInfo(version, cuda_api, found)


def installed_cuda_runtime_wheels(search_path: Iterable[str] | None = None) -> dict[str, str]:
    """{distribution: version} of the installed CUDA runtime wheels (``nvidia-cuda-runtime`` for
    CUDA 13, ``nvidia-cuda-runtime-cu12`` …). ``search_path`` as in installed_onnxruntime_variants."""
    path = list(search_path) if search_path is not None else None
    found = {}
    for distribution in metadata.distributions(**({"path": path} if path is not None else {})):
        name = _normalized(distribution.metadata["Name"] or "")
        if _CUDA_RUNTIME_WHEEL.match(name):
            found.setdefault(name, distribution.version)
    return dict(sorted(found.items()))


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def check_cuda_driver(
    search_path: Iterable[str] | None = None,
    driver: Callable[[], DriverInfo] = nvidia_driver_info,
    platform: str | None = None,
) -> Check:
    """Is the NVIDIA driver new enough for the CUDA runtime wheels installed here?

    Seams for tests: ``search_path`` (where the wheels' metadata is read), ``driver`` (what the
    machine says), ``platform`` (``sys.platform`` by default; picks the Linux or Windows minimum).
    """
    name = "NVIDIA driver"
    runtimes = installed_cuda_runtime_wheels(search_path)
    if not runtimes:
        return Check(
            name, "ok", "no CUDA runtime wheels installed: nothing to match (the nvidia extra brings them)"
        )
    major = max(_version_tuple(version)[0] for version in runtimes.values())
    wheels = ", ".join(f"{dist} {version}" for dist, version in runtimes.items())
    on_windows = (platform or sys.platform) == "win32"
    minimum = MIN_DRIVER_FOR_CUDA.get(major, (None, None))[1 if on_windows else 0]
    needs = f"driver >= {minimum}" if minimum else f"a driver for CUDA {major}"
    get_driver = "update it from https://www.nvidia.com/drivers (or your distribution's driver packages)"
    info = driver()
    if info.version is None and info.cuda_api is None:
        return Check(
            name,
            "warn",
            f"CUDA {major} runtime wheels are installed ({wheels}) but no NVIDIA driver answered "
            f"({info.found}): the GPU backends cannot run",
            f"on a machine with an NVIDIA GPU install its {needs}; otherwise nothing to do",
        )
    too_old = None
    if info.version is not None and minimum is not None:
        if _version_tuple(info.version) < _version_tuple(minimum):
            too_old = f"driver {info.version} is older than the CUDA {major} runtime wheels need ({needs})"
    elif info.cuda_api is not None and info.cuda_api[0] < major:
        too_old = (
            f"the driver runs CUDA up to {info.cuda_api[0]}.{info.cuda_api[1]}, the wheels are CUDA {major}"
        )
    if too_old is not None:
        return Check(
            name,
            "fail",
            f"{too_old}; installed: {wheels} ({info.found})",
            f"{get_driver}: CUDA {major} needs {needs}"
            + (f" (R{minimum.split('.')[0]} or newer)" if minimum else ""),
        )
    shown = info.version or f"CUDA {info.cuda_api[0]}.{info.cuda_api[1]}"  # type: ignore[index]
    return Check(name, "ok", f"driver {shown} runs the CUDA {major} runtime wheels ({wheels}; needs {needs})")


def check_tensorrt() -> Check:
    """TensorRT and the CUDA binding the TensorRT backend would use (imports only, no CUDA call)."""
    from ezvtb_node.core.backends import cuda_memory

    install = f"with an NVIDIA GPU: {install_extra('tensorrt')}; on a CPU machine nothing to do"
    forced = os.environ.get(cuda_memory.ENV_VAR, "").strip().lower()
    if forced and forced not in ("auto", *cuda_memory.BINDINGS):
        return Check(
            "TensorRT",
            "warn",
            f"{cuda_memory.ENV_VAR}={forced!r} is not a CUDA binding (expected auto, "
            f"{', '.join(cuda_memory.BINDINGS)}): the TensorRT backend will not start",
            f"unset {cuda_memory.ENV_VAR} or set it to one of those",
        )
    missing = ""
    try:
        import tensorrt
    except Exception as exc:  # a broken install raises anything from ImportError to OSError
        tensorrt, missing = None, f"tensorrt ({type(exc).__name__})"
    bindings = cuda_memory.describe_cuda_bindings()
    usable = [(name, version) for name, version, problem in bindings if problem is None]
    if forced and forced != "auto":
        usable = [(name, version) for name, version in usable if name == forced]
    if tensorrt is None:
        found = f"; CUDA binding {usable[0][0]} {usable[0][1]}" if usable else ""
        return Check("TensorRT", "warn", f"not importable: {missing}{found}", install)
    trt = f"tensorrt {getattr(tensorrt, '__version__', '')}".strip()
    if not usable:
        why = "; ".join(f"{name}: {problem}" for name, _, problem in bindings if problem)
        if forced and forced != "auto":
            why = f"{cuda_memory.ENV_VAR}={forced} but it is not importable ({why})"
        return Check(
            "TensorRT",
            "warn",
            f"{trt}, but no CUDA binding for Python ({why})",
            f"{cuda_memory.INSTALL_HINT}; pycuda also works where it is already installed",
        )
    name, version = usable[0]
    detail = f"{trt}, CUDA binding: {name} {version}"
    if forced and forced != "auto":
        detail += f" (chosen by {cuda_memory.ENV_VAR})"
    elif name != cuda_memory.BINDINGS[0]:
        detail += f" ({cuda_memory.BINDINGS[0]} is not installed; pycuda works, cuda-bindings is preferred)"
    return Check("TensorRT", "ok", detail)


def check_directml() -> Check:
    if sys.platform != "win32":
        return Check("DirectML", "ok", f"not applicable on {sys.platform} (Windows only)")
    try:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
    except Exception as exc:
        providers, reason = [], f"onnxruntime not importable ({exc})"
    else:
        reason = "this onnxruntime build has no DmlExecutionProvider"
    if "DmlExecutionProvider" in providers:
        return Check("DirectML", "ok", "DmlExecutionProvider available")
    return Check(
        "DirectML",
        "warn",
        reason,
        "for AMD/Intel GPUs: uninstall every onnxruntime* package (pip list), then "
        + install_extra("directml"),
    )


def check_spout(spout_wanted: bool) -> Check:
    """``spout_wanted``: the configuration sends to Spout, so a missing Spout is an error."""
    if sys.platform != "win32":
        if spout_wanted:
            return Check(
                "Spout",
                "fail",
                f"the configuration asks for a Spout output, which needs Windows (this is {sys.platform})",
                "use --output browser and add http://127.0.0.1:8765/ as an OBS Browser Source",
            )
        return Check("Spout", "ok", "not applicable: use the browser output")
    try:
        import SpoutGL
    except Exception as exc:
        return Check(
            "Spout",
            "fail" if spout_wanted else "warn",
            f"SpoutGL not importable ({type(exc).__name__}: {exc})",
            install_extra("spout") + " (or use --output browser)",
        )
    return Check("Spout", "ok", f"SpoutGL {_distribution_version('SpoutGL', SpoutGL)}")


def _distribution_version(distribution: str, module) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return getattr(module, "__version__", "version unknown")


def check_libjpeg_turbo() -> Check:
    from ezvtb_node.core.cacher.codec import TurboJpegBackend

    try:
        TurboJpegBackend()
    except (ImportError, OSError, RuntimeError) as exc:
        return Check(
            "libjpeg-turbo",
            "warn",
            f"PyTurboJPEG cannot load it ({exc}); the frame cache uses Pillow's slower JPEG codec",
            "apt-get install libturbojpeg0 (Debian/Ubuntu), brew install jpeg-turbo (macOS), "
            "or the libjpeg-turbo installer (Windows)",
        )
    return Check("libjpeg-turbo", "ok", "loaded by PyTurboJPEG")


def check_portaudio(voice_wanted: bool, load: Callable[[], Any] | None = None) -> Check:
    """PortAudio for the voice input (``--audio``): sounddevice loads it on import. ``load``
    replaces that import in tests."""
    try:
        sounddevice = (load or (lambda: importlib.import_module("sounddevice")))()
        inputs = [d for d in sounddevice.query_devices() if d["max_input_channels"] > 0]
    except Exception as exc:  # OSError when the library is missing, anything from a broken install
        fix = (
            "apt-get install libportaudio2 (Debian/Ubuntu)"
            if sys.platform.startswith("linux")
            else pip_install("--force-reinstall", "sounddevice") + " (its wheel brings PortAudio)"
        )
        status = "warn" if voice_wanted else "ok"
        note = "" if voice_wanted else "; only the voice input (--audio) needs it"
        return Check("PortAudio", status, f"sounddevice cannot load PortAudio ({exc}){note}", fix)
    if not inputs:
        return Check(
            "PortAudio",
            "warn" if voice_wanted else "ok",
            "loaded, but no input device (microphone) found",
            "plug in or enable a microphone; `ezvtb-node voice devices` lists what PortAudio sees",
        )
    return Check("PortAudio", "ok", f"loaded; {len(inputs)} input device(s)")
