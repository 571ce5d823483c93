"""ONNX Runtime: CPU, CUDA (onnxruntime-gpu) and DirectML (onnxruntime-directml) providers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ezvtb_node.core.backends import BackendUnavailable

_NAMES = {
    "CPUExecutionProvider": ("onnxruntime-cpu", "cpu", "'onnxruntime'"),
    "CUDAExecutionProvider": ("cuda", "gpu", "'onnxruntime-gpu' (pip install 'ezvtb-node[cuda]')"),
    "DmlExecutionProvider": ("directml", "gpu", "'onnxruntime-directml' (Windows)"),
}


class OnnxRuntimeBackend:
    def __init__(self, provider: str, device_id: int):
        name, kind, package = _NAMES[provider]
        if provider not in ort.get_available_providers():
            raise BackendUnavailable(f"ONNX Runtime has no {provider} here (needs {package})")
        self.name = name
        self.provider = provider
        self.device_id = device_id
        self.device = "cpu" if kind == "cpu" else f"gpu:{device_id}"
        self.prefers_half = kind == "gpu"

    def load(self, path: Path) -> OnnxRuntimeStage:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if self.provider == "CPUExecutionProvider":
            options.intra_op_num_threads = os.cpu_count() or 1
            providers: list = [self.provider]
        else:
            providers = [(self.provider, {"device_id": self.device_id}), "CPUExecutionProvider"]
        if self.provider == "DmlExecutionProvider":
            # DirectML requires these two settings.
            options.enable_mem_pattern = False
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(str(path), options, providers=providers)
        return OnnxRuntimeStage(session)


class OnnxRuntimeStage:
    def __init__(self, session: ort.InferenceSession):
        self.session = session
        self.input_names = tuple(i.name for i in session.get_inputs())
        self.output_names = tuple(o.name for o in session.get_outputs())

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, feeds)
