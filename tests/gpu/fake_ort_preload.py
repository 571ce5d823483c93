"""Stand-in of ``onnxruntime.preload_dlls`` as ONNX Runtime's own source defines it.

microsoft/onnxruntime ``onnxruntime/__init__.py`` (1.21 and later; read in the installed 1.32.0):
``preload_dlls(cuda: bool = True, cudnn: bool = True, msvc: bool = True, directory=None)`` returns
None; on systems other than Windows and Linux it returns at once; with ``directory=None`` it looks
in the ``nvidia`` site-packages folder (on Windows first in a compatible PyTorch's ``lib``) and then
the default library paths, loading each library with ``ctypes.CDLL``; a library that fails to load
is printed, not raised (only a ``directory`` that does not exist raises RuntimeError).
"""

from __future__ import annotations

import platform

calls: list[dict] = []


def preload_dlls(cuda: bool = True, cudnn: bool = True, msvc: bool = True, directory=None) -> None:
    if platform.system() not in ("Windows", "Linux"):
        return
    calls.append({"cuda": cuda, "cudnn": cudnn, "msvc": msvc, "directory": directory})
