"""Imported RIFE and SR graphs run where the core runs THA3: one backend choice for every graph."""

import warnings

import numpy as np
import pytest

from ezvtb_node.core import get_core
from ezvtb_node.core.models.import_onnx import import_model
from tests.core.tiny_engine import write_tiny_engine


@pytest.mark.parametrize(
    ("cpu_backend", "expected"), [("openvino", "openvino"), ("onnxruntime", "onnxruntime-cpu")]
)
def test_imported_rife_and_sr_follow_the_cores_backend(
    rife_model, sr_model, tmp_path, monkeypatch, cpu_backend, expected
):
    engines = tmp_path / "engines"
    import_model(rife_model(scale=2), engines)
    import_model(sr_model(input_name="x", scale=2), engines)
    monkeypatch.setenv("EZVTB_ENGINES_DIR", str(engines))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no GPU runtime here: the CPU one runs
        core = get_core(
            model_dir=str(write_tiny_engine(tmp_path / "tiny")),
            cpu_backend=cpu_backend,
            use_cacher=False,
            use_interpolation=True,
            use_sr=True,
        )
    described = core.describe()
    assert described["backend"] == expected
    assert described["interpolation"]["interpolator"] == "rife-onnx"
    assert described["interpolation"]["backend"] == expected
    assert described["sr"]["upscaler"] == "waifu2x"
    assert described["sr"]["backend"] == expected
    core.setImage(np.full((512, 512, 4), 200, np.uint8))
    frames = core.inference(np.zeros((1, 45), np.float32))
    assert [f.shape for f in frames] == [(1024, 1024, 4)] * 2
