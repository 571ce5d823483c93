"""ONNX Runtime: CPU, CUDA (onnxruntime-gpu) and DirectML (onnxruntime-directml) providers.

On a GPU provider every stage runs through IO binding: its outputs stay in device memory as
``OrtValue``s (wrapped in ``OrtDeviceTensor``) and are bound as inputs of the next stage, so only
the poses go up and only the final uint8 frame comes down. IO binding works with the CPU provider
too (there the "device" is host memory), which is how the tests exercise this path.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ezvtb_node.core.backends import BackendUnavailable

_NAMES = {
    "CPUExecutionProvider": ("onnxruntime-cpu", "cpu", "'onnxruntime'"),
    "CUDAExecutionProvider": ("cuda", "gpu", "'onnxruntime-gpu' (pip install 'ezvtb-node[nvidia]')"),
    "DmlExecutionProvider": ("directml", "gpu", "'onnxruntime-directml' (Windows)"),
}
# Device names of OrtValue / IO binding for each provider.
_ORT_DEVICE = {"CPUExecutionProvider": "cpu", "CUDAExecutionProvider": "cuda", "DmlExecutionProvider": "dml"}
_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,
    "tensor(int64)": np.int64,
}


class OnnxRuntimeBackend:
    def __init__(self, provider: str, device_id: int, io_binding: bool | None = None, threads: int = 0):
        name, kind, package = _NAMES[provider]
        if provider not in ort.get_available_providers():
            raise BackendUnavailable(f"ONNX Runtime has no {provider} here (needs {package})")
        self.name = name
        self.provider = provider
        self.device_id = device_id
        self.device = "cpu" if kind == "cpu" else f"gpu:{device_id}"
        self.prefers_half = kind == "gpu"
        # GPU providers bind by default (frames stay on the device); plain run() on the CPU.
        self.io_binding = kind == "gpu" if io_binding is None else io_binding
        self.device_tensors = self.io_binding
        self.threads = threads or os.cpu_count() or 1

    def load(self, path: Path) -> OnnxRuntimeStage | OnnxRuntimeBoundStage:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if self.provider == "CPUExecutionProvider":
            options.intra_op_num_threads = self.threads
            providers: list = [self.provider]
        else:
            providers = [(self.provider, {"device_id": self.device_id}), "CPUExecutionProvider"]
        if self.provider == "DmlExecutionProvider":
            # DirectML requires these two settings.
            options.enable_mem_pattern = False
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(str(path), options, providers=providers)
        if self.io_binding:
            return OnnxRuntimeBoundStage(session, _ORT_DEVICE[self.provider], self.device_id)
        return OnnxRuntimeStage(session)


class OnnxRuntimeStage:
    def __init__(self, session: ort.InferenceSession):
        self.session = session
        self.input_names = tuple(i.name for i in session.get_inputs())
        self.output_names = tuple(o.name for o in session.get_outputs())

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, feeds)


class OrtDeviceTensor:
    """A stage output living where the provider computes (an ``OrtValue``), with its size in bytes."""

    def __init__(self, value: ort.OrtValue):
        self.value = value
        self.shape = tuple(value.shape())
        self.dtype = np.dtype(_NUMPY_TYPES[value.data_type()])
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize

    def to_host(self) -> np.ndarray:
        return self.value.numpy()


class OnnxRuntimeBoundStage:
    """A stage run with IO binding: device tensors in, device tensors out."""

    def __init__(self, session: ort.InferenceSession, device: str, device_id: int):
        self.session = session
        self.device = device
        self.device_id = device_id
        self.input_names = tuple(i.name for i in session.get_inputs())
        self.output_names = tuple(o.name for o in session.get_outputs())
        self._input_types = {i.name: np.dtype(_NUMPY_TYPES[i.type]) for i in session.get_inputs()}

    def run(self, feeds: dict) -> list[OrtDeviceTensor]:
        binding = self.session.io_binding()
        # On the CPU device an OrtValue made from numpy shares the array's memory: both must
        # outlive the run.
        uploaded = []
        for name in self.input_names:
            value = feeds[name]
            if isinstance(value, OrtDeviceTensor):
                binding.bind_ortvalue_input(name, value.value)
            else:
                # Host arrays (poses, the character image, RAM-cached results) are copied up.
                host = np.ascontiguousarray(value, dtype=self._input_types[name])
                uploaded.append(ort.OrtValue.ortvalue_from_numpy(host, self.device, self.device_id))
                binding.bind_ortvalue_input(name, uploaded[-1])
        for name in self.output_names:
            # No buffer given: ONNX Runtime allocates fresh outputs on the device each run, so
            # results kept in the intermediate cache are never overwritten by a later run.
            binding.bind_output(name, self.device, self.device_id)
        self.session.run_with_iobinding(binding)
        return [OrtDeviceTensor(value) for value in binding.get_outputs()]
