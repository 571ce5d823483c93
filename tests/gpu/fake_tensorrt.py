"""A stand-in for the ``tensorrt`` Python API (the part the TensorRT backend uses).

The builder really parses the ONNX file (with ``onnx``) into a network of typed inputs and
outputs and "serializes" an engine that holds the ONNX bytes plus what the build was asked
(precision flags, workspace, TensorRT version). Deserializing checks the version like TensorRT
does (an engine from another version is rejected). ``execute_async_v3`` queues the work on the
fake CUDA stream; when the stream runs it, the graph is executed with ONNX Runtime on the CPU,
reading inputs from and writing outputs to the fake device memory at the bound addresses
(``tests/gpu/fake_cuda_device.py``, shared by the pycuda and cuda-bindings stand-ins). Like
TensorRT, which calls the CUDA runtime, an enqueue works in the calling thread's current context
(device 0's primary context if none is current) and fails for a stream of another device.

``configure(version=...)`` selects TensorRT 10 (``BuilderFlag.FP16`` exists, weak typing) or 11
(no FP16 flag, strongly typed networks only). ``BUILDS`` records every build.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import onnx
import onnxruntime as ort

from tests.gpu import fake_cuda_device as gpu

__version__ = "10.9.0.34"
MAGIC = b"FAKE-TRT-ENGINE\n"
BUILDS: list[dict] = []
UNSUPPORTED_OPS = {"AffineGrid", "Col2Im", "CenterCropPad"}
PROGRESS_EVENTS: list[tuple] = []


class DataType:
    FLOAT = "FLOAT"
    HALF = "HALF"
    UINT8 = "UINT8"
    INT32 = "INT32"
    INT64 = "INT64"


_ONNX_TYPES = {
    onnx.TensorProto.FLOAT: DataType.FLOAT,
    onnx.TensorProto.FLOAT16: DataType.HALF,
    onnx.TensorProto.UINT8: DataType.UINT8,
    onnx.TensorProto.INT32: DataType.INT32,
    onnx.TensorProto.INT64: DataType.INT64,
}
_NUMPY = {
    DataType.FLOAT: np.float32,
    DataType.HALF: np.float16,
    DataType.UINT8: np.uint8,
    DataType.INT32: np.int32,
    DataType.INT64: np.int64,
}


def nptype(data_type: str):
    return _NUMPY[data_type]


class TensorIOMode:
    NONE = "NONE"
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class MemoryPoolType:
    WORKSPACE = "WORKSPACE"


class NetworkDefinitionCreationFlag:
    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 5


class BuilderFlag:
    FP16 = "FP16"
    TF32 = "TF32"


class Logger:
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    def __init__(self, min_severity: int = 2):
        self.min_severity = min_severity


class IProgressMonitor:
    def __init__(self):
        pass


def configure(version: str = "10.9.0.34") -> None:
    """Pretend to be TensorRT ``version`` (11 and later have no FP16 builder flag)."""
    global __version__
    __version__ = version
    if int(version.split(".")[0]) >= 11:
        if hasattr(BuilderFlag, "FP16"):
            del BuilderFlag.FP16
    else:
        BuilderFlag.FP16 = "FP16"
    BUILDS.clear()
    PROGRESS_EVENTS.clear()


class ITensor:
    def __init__(self, name: str, dtype: str, shape: tuple[int, ...]):
        self.name, self.dtype, self.shape = name, dtype, shape


class INetworkDefinition:
    def __init__(self, flags: int):
        self.flags = flags
        self.inputs: list[ITensor] = []
        self.outputs: list[ITensor] = []
        self.onnx_bytes = b""

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    @property
    def num_outputs(self) -> int:
        return len(self.outputs)

    def get_input(self, index: int) -> ITensor:
        return self.inputs[index]

    def get_output(self, index: int) -> ITensor:
        return self.outputs[index]


class ParserError:
    def __init__(self, text: str):
        self.text = text

    def desc(self) -> str:
        return self.text

    def __str__(self) -> str:
        return f"In node -1 (parse): {self.text}"


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: Logger):
        self.network = network
        self.errors: list[ParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, index: int) -> ParserError:
        return self.errors[index]

    def parse_from_file(self, path: str) -> bool:
        with open(path, "rb") as handle:
            return self.parse(handle.read(), path)

    def parse(self, model_bytes: bytes, path: str | None = None) -> bool:
        try:
            model = onnx.load_from_string(bytes(model_bytes))
            onnx.checker.check_model(model)
        except Exception as exc:
            self.errors.append(ParserError(f"invalid ONNX model: {exc}"))
            return False
        for node in model.graph.node:
            if node.op_type in UNSUPPORTED_OPS:  # as in TensorRT's ONNX operator support matrix
                self.errors.append(ParserError(f"No importer registered for op: {node.op_type}"))
                return False
        initializers = {t.name for t in model.graph.initializer}

        def tensor(info) -> ITensor:
            kind = info.type.tensor_type
            return ITensor(info.name, _ONNX_TYPES[kind.elem_type], tuple(d.dim_value for d in kind.shape.dim))

        self.network.inputs = [tensor(i) for i in model.graph.input if i.name not in initializers]
        self.network.outputs = [tensor(o) for o in model.graph.output]
        self.network.onnx_bytes = model.SerializeToString()
        return True


class IBuilderConfig:
    def __init__(self):
        self.flags: set[str] = set()
        self.pool_limits: dict[str, int] = {}
        self.progress_monitor: IProgressMonitor | None = None

    def set_flag(self, flag: str) -> None:
        self.flags.add(flag)

    def get_flag(self, flag: str) -> bool:
        return flag in self.flags

    def set_memory_pool_limit(self, pool: str, size: int) -> None:
        self.pool_limits[pool] = size


class IHostMemory:
    def __init__(self, data: bytes):
        self._data = data
        self.nbytes = len(data)

    def __bytes__(self) -> bytes:
        return self._data

    def __buffer__(self, flags):
        return memoryview(self._data)


class Builder:
    def __init__(self, logger: Logger):
        self.logger = logger

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig):
        strongly_typed = bool(network.flags & (1 << NetworkDefinitionCreationFlag.STRONGLY_TYPED))
        if strongly_typed and "FP16" in config.flags:
            return None  # TensorRT: precision flags are an error on strongly typed networks
        monitor = config.progress_monitor
        if monitor is not None:
            for phase, steps in (("Building engine", 2), ("Tactic selection", 3)):
                monitor.phase_start(phase, None, steps)
                PROGRESS_EVENTS.append(("start", phase, steps))
                for step in range(steps):
                    if not monitor.step_complete(phase, step):
                        return None
                monitor.phase_finish(phase)
        header = {
            "version": __version__,
            "fp16": "FP16" in config.flags,
            "strongly_typed": strongly_typed,
            "workspace": config.pool_limits.get(MemoryPoolType.WORKSPACE),
        }
        BUILDS.append({**header, "inputs": [t.name for t in network.inputs]})
        return IHostMemory(MAGIC + json.dumps(header).encode() + b"\n" + network.onnx_bytes)


class Runtime:
    def __init__(self, logger: Logger):
        self.logger = logger

    def deserialize_cuda_engine(self, data: bytes):
        data = bytes(data)
        if not data.startswith(MAGIC):
            return None  # TensorRT logs "Serialization assertion ... failed" and returns None
        header_line, _, onnx_bytes = data[len(MAGIC) :].partition(b"\n")
        header = json.loads(header_line)
        if header["version"] != __version__:
            return None  # engines only load in the TensorRT version that built them
        return ICudaEngine(header, onnx_bytes)


class ICudaEngine:
    def __init__(self, header: dict, onnx_bytes: bytes):
        self.header = header
        model = onnx.load_from_string(onnx_bytes)
        initializers = {t.name for t in model.graph.initializer}
        self._tensors: list[tuple[str, str, ITensor]] = []
        for info, mode in [
            (i, TensorIOMode.INPUT) for i in model.graph.input if i.name not in initializers
        ] + [(o, TensorIOMode.OUTPUT) for o in model.graph.output]:
            kind = info.type.tensor_type
            tensor = ITensor(
                info.name, _ONNX_TYPES[kind.elem_type], tuple(d.dim_value for d in kind.shape.dim)
            )
            self._tensors.append((info.name, mode, tensor))
        self._onnx_bytes = onnx_bytes
        self._session = None

    @property
    def session(self) -> ort.InferenceSession:
        # Created on first execution: engines of fp16 graphs are built and loaded in tests whose
        # graphs the CPU provider could not run.
        if self._session is None:
            self._session = ort.InferenceSession(self._onnx_bytes, providers=["CPUExecutionProvider"])
        return self._session

    @property
    def num_io_tensors(self) -> int:
        return len(self._tensors)

    def get_tensor_name(self, index: int) -> str:
        return self._tensors[index][0]

    def _find(self, name: str) -> tuple[str, ITensor]:
        for tensor_name, mode, tensor in self._tensors:
            if tensor_name == name:
                return mode, tensor
        return TensorIOMode.NONE, None

    def get_tensor_mode(self, name: str) -> str:
        return self._find(name)[0]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self._find(name)[1].shape

    def get_tensor_dtype(self, name: str) -> str:
        return self._find(name)[1].dtype

    def create_execution_context(self) -> IExecutionContext:
        return IExecutionContext(self)


class IExecutionContext:
    def __init__(self, engine: ICudaEngine):
        self.engine = engine
        self.addresses: dict[str, int] = {}
        self.enqueues = 0

    def set_tensor_address(self, name: str, address: int) -> bool:
        if self.engine.get_tensor_mode(name) == TensorIOMode.NONE:
            return False
        self.addresses[name] = int(address)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self.addresses.get(name, 0)

    def execute_async_v3(self, stream_handle: int) -> bool:
        device = gpu.runtime_device()
        stream = gpu.STATE.streams.get(int(stream_handle))
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        if stream is None or stream.device != device or any(name not in self.addresses for name in names):
            return False  # TensorRT logs the error and returns false
        # TensorRT captures the addresses at enqueue time.
        bound = dict(self.addresses)
        engine = self.engine
        self.enqueues += 1

        def execute():
            feeds = {}
            for name in names:
                mode, tensor = engine._find(name)
                if mode == TensorIOMode.INPUT:
                    dtype = np.dtype(nptype(tensor.dtype))
                    raw = gpu.device_view(bound[name], int(np.prod(tensor.shape)) * dtype.itemsize)
                    feeds[name] = raw.view(dtype).reshape(tensor.shape).copy()
            results = engine.session.run(None, feeds)
            for output, value in zip(engine.session.get_outputs(), results, strict=True):
                value = np.ascontiguousarray(value)
                gpu.device_view(bound[output.name], value.nbytes)[:] = value.reshape(-1).view(np.uint8)

        stream.enqueue(("execute", tuple(sorted(bound)), threading.get_ident()), execute)
        return True
