"""Checks of the Python environment: interpreter, packages, ONNX Runtime, GPUs, Spout, libjpeg-turbo."""

from __future__ import annotations

import ctypes
import importlib
import os
import sys
from dataclasses import dataclass
from importlib import metadata

from ezvtb_node.doctor.check import Check

MIN_PYTHON = (3, 10)


@dataclass(frozen=True)
class Package:
    label: str
    module: str
    distribution: str
    required: bool
    install: str


PACKAGES = (
    Package("numpy", "numpy", "numpy", True, "pip install numpy"),
    Package("onnxruntime", "onnxruntime", "onnxruntime", True, "pip install onnxruntime"),
    Package(
        "openvino",
        "openvino",
        "openvino",
        False,
        "pip install openvino (runs THA3 about twice as fast as ONNX Runtime on a CPU)",
    ),
    Package("opencv", "cv2", "opencv-python-headless", True, "pip install opencv-python-headless"),
    Package("PyTurboJPEG", "turbojpeg", "PyTurboJPEG", True, "pip install 'PyTurboJPEG>=1.8,<2'"),
    Package("sqlite-utils", "sqlite_utils", "sqlite-utils", True, "pip install sqlite-utils"),
    Package("python-osc", "pythonosc", "python-osc", True, "pip install python-osc"),
    Package("aiohttp", "aiohttp", "aiohttp", True, "pip install aiohttp"),
    Package("pillow", "PIL", "pillow", True, "pip install pillow"),
)

# Wheels that provide the same module under another distribution name (GPU builds).
_ALTERNATIVE_DISTRIBUTIONS = {
    "onnxruntime": ("onnxruntime-gpu", "onnxruntime-directml"),
    "opencv-python-headless": ("opencv-python", "opencv-contrib-python", "opencv-contrib-python-headless"),
}


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


def check_onnxruntime_providers() -> Check:
    try:
        import onnxruntime
    except Exception as exc:
        return Check(
            "onnxruntime providers", "fail", f"onnxruntime not importable ({exc})", "pip install onnxruntime"
        )
    providers = onnxruntime.get_available_providers()
    detail = ", ".join(providers) or "none"
    if "CPUExecutionProvider" not in providers:
        return Check(
            "onnxruntime providers",
            "fail",
            detail,
            "reinstall ONNX Runtime: pip install --force-reinstall onnxruntime",
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


def check_tensorrt() -> Check:
    """TensorRT and the CUDA binding the TensorRT backend would use (imports only, no CUDA call)."""
    from ezvtb_node.core.backends import cuda_memory

    install = "with an NVIDIA GPU: pip install 'ezvtb-node[tensorrt]'; on a CPU machine nothing to do"
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
        "for AMD/Intel GPUs: pip uninstall -y onnxruntime && pip install 'ezvtb-node[directml]'",
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
            "pip install 'ezvtb-node[spout]' (or use --output browser)",
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
