"""ONNX Runtime's builds per accelerator on PyPI. Each installs the same `onnxruntime` module, so two
of them in one environment overwrite each other's files (and uninstalling one breaks the other).

Standard library only, nothing imported: run.py reads this file before any virtual environment
exists, and doctor imports it; one list for both.
"""

ONNXRUNTIME_VARIANTS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-openvino",
    "onnxruntime-qnn",
    "onnxruntime-rocm",
    "onnxruntime-migraphx",
    "onnxruntime-training",
)
