"""Copies between ONNX Runtime ``OrtValue``s that its Python API does not offer for built-in providers.

``onnxruntime.copy_tensors`` only knows the data transfers of plugin execution providers (on the CPU
provider it raises "Data transfer implementation between source and destination device was not
found"), and ``OrtValue.update_inplace`` copies from numpy only. The ONNX Runtime backend needs two
more: device to device (a result the intermediate cache keeps, apart from the stage's fixed output
buffer, and put back on a hit) and device to a reused host array (the frame, which a CUDA graph
writes to a device buffer). ``data_ptr()`` gives the address of an OrtValue's memory.
"""

from __future__ import annotations

import ctypes
from typing import Protocol

import numpy as np
import onnxruntime as ort

from ezvtb_node.core.backends.cuda_memory import (
    CudaBindingUnavailable,
    CudaDevice,
    CudaError,
    load_cuda_binding,
)


class OrtCopier(Protocol):
    def copy(self, dst: ort.OrtValue, src: ort.OrtValue, nbytes: int) -> None:
        """Copy ``nbytes`` from ``src`` to ``dst`` (both on the provider's device); done on return."""
        ...

    def download(self, dst: np.ndarray, src: ort.OrtValue) -> None:
        """Copy ``src`` into the C-contiguous host array ``dst``; done on return."""
        ...

    def host_array(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A host array to download into (page-locked where the device has that)."""
        ...


class HostCopier:
    """OrtValues in host memory (the CPU provider): plain memory copies."""

    def copy(self, dst: ort.OrtValue, src: ort.OrtValue, nbytes: int) -> None:
        ctypes.memmove(dst.data_ptr(), src.data_ptr(), nbytes)

    def download(self, dst: np.ndarray, src: ort.OrtValue) -> None:
        ctypes.memmove(dst.ctypes.data, src.data_ptr(), dst.nbytes)

    def host_array(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return np.empty(shape, dtype)


class CudaCopier:
    """OrtValues in CUDA memory, copied through a CUDA binding (cuda-bindings or pycuda) on a stream
    of its own, waited for: ONNX Runtime has finished a run's work when ``run_with_iobinding``
    returns, and the next run starts after the copy returned."""

    def __init__(self, device: CudaDevice):
        self._device = device
        with device.current():
            self._stream = device.stream()

    def copy(self, dst: ort.OrtValue, src: ort.OrtValue, nbytes: int) -> None:
        with self._device.current():
            self._device.copy(dst.data_ptr(), src.data_ptr(), nbytes, self._stream)
            self._stream.synchronize()

    def download(self, dst: np.ndarray, src: ort.OrtValue) -> None:
        with self._device.current():
            self._device.download(dst, src.data_ptr(), self._stream)
            self._stream.synchronize()

    def host_array(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        with self._device.current():
            return self._device.pinned_empty(shape, dtype)


def make_copier(device: str, device_id: int) -> tuple[OrtCopier | None, str]:
    """The copier for an OrtValue device (``cpu``, ``cuda``, ``dml``), or None and why there is none."""
    if device == "cpu":
        return HostCopier(), "host memory copies"
    if device == "cuda":
        try:
            binding = load_cuda_binding()
            count = binding.device_count()  # also initialises the driver (pycuda needs that first)
        except (CudaBindingUnavailable, CudaError, ValueError) as exc:
            return None, f"no device copies: {exc}"
        if not 0 <= device_id < count:
            return None, f"no device copies: device_id {device_id} not among {count} CUDA device(s)"
        return CudaCopier(binding.open(device_id)), f"device copies through {binding.name}"
    return None, f"no device copies: ONNX Runtime's Python API has none for {device}"
