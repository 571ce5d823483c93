"""OpenVINO on the CPU: runs the THA3 stage graphs about 2x faster than ONNX Runtime's CPU provider."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ezvtb_node.core.backends.base import BackendUnavailable, FreshOutputsRunner

try:
    import openvino
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise BackendUnavailable("the openvino package is not installed") from exc


class OpenVinoBackend:
    name = "openvino"
    provider = "OpenVINO CPU"
    device = "cpu"
    prefers_half = False

    def __init__(self, threads: int = 0):
        self._core = openvino.Core()
        self.threads = threads or os.cpu_count() or 1

    def load(self, path: Path) -> OpenVinoStage:
        compiled = self._core.compile_model(
            str(path),
            "CPU",
            {
                # f32 keeps the output within 1/255 of the reference; bf16 does not.
                "INFERENCE_PRECISION_HINT": "f32",
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": self.threads,
            },
        )
        return OpenVinoStage(compiled)


class OpenVinoStage(FreshOutputsRunner):
    def __init__(self, compiled):
        self._request = compiled.create_infer_request()
        self._outputs = compiled.outputs
        self.input_names = tuple(port.get_any_name() for port in compiled.inputs)
        self.output_names = tuple(port.get_any_name() for port in self._outputs)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = self._request.infer(feeds)
        # Copies: the request reuses its output buffers on the next call.
        return [np.array(results[port]) for port in self._outputs]
