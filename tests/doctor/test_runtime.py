from __future__ import annotations

import json
import sys
import types
from importlib import metadata

import pytest

from ezvtb_node import cli
from ezvtb_node.doctor import Check, run_checks, runtime
from ezvtb_node.doctor.commands import format_table
from ezvtb_node.doctor.runtime import check_cuda, check_python
from ezvtb_node.install_hints import python_command
from tests.doctor.conftest import by_name, quiet_config, write_engine_set


def test_python_is_ok_here():
    check = check_python()
    assert check.status == "ok"
    assert sys.executable in check.detail


def test_every_package_is_reported_with_its_version():
    checks = run_checks(quiet_config())
    for label, distribution in (("numpy", "numpy"), ("python-osc", "python-osc"), ("pillow", "pillow")):
        check = by_name(checks, f"package {label}")
        assert check.status == "ok"
        assert check.detail == metadata.version(distribution)


def test_unimportable_required_package_fails_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    check = by_name(run_checks(quiet_config()), "package opencv")
    assert check.status == "fail"
    assert "cannot import cv2" in check.detail
    assert check.fix == f"{python_command()} -m pip install opencv-python-headless"


def test_unimportable_optional_package_only_warns(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    check = by_name(run_checks(quiet_config()), "package openvino")
    assert check.status == "warn"
    assert check.fix.startswith(f"{python_command()} -m pip install openvino")


def test_onnxruntime_missing_is_fine_while_openvino_runs_the_cpu(monkeypatch):
    pytest.importorskip("openvino")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    check = by_name(run_checks(quiet_config()), "onnxruntime providers")
    assert check.status == "ok"
    assert "OpenVINO runs the CPU" in check.detail


def test_no_cpu_runtime_at_all_fails_the_provider_check(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "openvino", None)
    check = by_name(run_checks(quiet_config()), "onnxruntime providers")
    assert check.status == "fail"
    assert "neither openvino nor onnxruntime" in check.detail
    assert check.fix == f"{python_command()} -m pip install openvino"


def test_onnxruntime_providers_include_the_cpu():
    check = by_name(run_checks(quiet_config()), "onnxruntime providers")
    assert check.status == "ok"
    assert "CPUExecutionProvider" in check.detail


def test_libjpeg_turbo_missing_is_a_warning_naming_the_fallback(monkeypatch):
    monkeypatch.setitem(sys.modules, "turbojpeg", None)
    check = by_name(run_checks(quiet_config()), "libjpeg-turbo")
    assert check.status == "warn"
    assert "Pillow" in check.detail
    assert "libturbojpeg0" in check.fix


def test_tensorrt_missing_is_a_warning_not_a_failure(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    check = by_name(run_checks(quiet_config()), "TensorRT")
    assert check.status == "warn"
    assert "[tensorrt]\"" in check.fix


def fake_module(monkeypatch, name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def install_tensorrt_and_bindings(monkeypatch, cuda_bindings: bool, pycuda: bool) -> None:
    """Importable stand-ins: the doctor only imports, it makes no CUDA call."""
    monkeypatch.delenv("EZVTB_CUDA_BINDING", raising=False)
    fake_module(monkeypatch, "tensorrt", __version__="10.9.0.34")
    if cuda_bindings:
        runtime = fake_module(monkeypatch, "cuda.bindings.runtime")
        bindings = fake_module(monkeypatch, "cuda.bindings", __version__="12.9.0", runtime=runtime)
        fake_module(monkeypatch, "cuda", bindings=bindings)
    else:
        for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime"):
            monkeypatch.setitem(sys.modules, name, None)
    if pycuda:
        driver = fake_module(monkeypatch, "pycuda.driver")
        fake_module(monkeypatch, "pycuda", VERSION_TEXT="2025.1", driver=driver)
    else:
        for name in ("pycuda", "pycuda.driver"):
            monkeypatch.setitem(sys.modules, name, None)


def test_tensorrt_check_names_the_cuda_binding_the_backend_would_use(monkeypatch):
    install_tensorrt_and_bindings(monkeypatch, cuda_bindings=True, pycuda=True)
    check = by_name(run_checks(quiet_config()), "TensorRT")
    assert check.status == "ok"
    assert check.detail == "tensorrt 10.9.0.34, CUDA binding: cuda-bindings 12.9.0"


def test_tensorrt_check_accepts_pycuda_and_says_cuda_bindings_is_preferred(monkeypatch):
    install_tensorrt_and_bindings(monkeypatch, cuda_bindings=False, pycuda=True)
    check = by_name(run_checks(quiet_config()), "TensorRT")
    assert check.status == "ok"
    assert "CUDA binding: pycuda 2025.1" in check.detail and "cuda-bindings is preferred" in check.detail


def test_tensorrt_without_a_cuda_binding_warns_with_the_install_command(monkeypatch):
    install_tensorrt_and_bindings(monkeypatch, cuda_bindings=False, pycuda=False)
    check = by_name(run_checks(quiet_config()), "TensorRT")
    assert check.status == "warn"
    assert "no CUDA binding for Python" in check.detail
    assert check.fix.startswith(f"{python_command()} -m pip install cuda-bindings")


@pytest.mark.parametrize(
    ("value", "expected"), [("pycuda", "pycuda 2025.1 (chosen by"), ("cupy", "not a CUDA")]
)
def test_tensorrt_check_follows_the_binding_environment_variable(monkeypatch, value, expected):
    install_tensorrt_and_bindings(monkeypatch, cuda_bindings=True, pycuda=True)
    monkeypatch.setenv("EZVTB_CUDA_BINDING", value)
    check = by_name(run_checks(quiet_config()), "TensorRT")
    assert expected in check.detail
    assert check.status == ("ok" if value == "pycuda" else "warn")


def test_cuda_check_matches_the_machine():
    check = check_cuda()
    # On a CPU-only machine (CI) the node still runs: a warning, never a failure.
    assert check.status in ("ok", "warn")
    if check.status == "warn":
        assert "CPU" in check.detail


@pytest.mark.skipif(sys.platform == "win32", reason="Spout is available on Windows")
def test_spout_output_on_this_platform_fails_but_is_fine_when_not_asked_for():
    assert by_name(run_checks(quiet_config()), "Spout").status == "ok"
    check = by_name(run_checks(quiet_config(output=["spout:ezvtb"])), "Spout")
    assert check.status == "fail"
    assert "--output browser" in check.fix


@pytest.mark.skipif(sys.platform == "win32", reason="DirectML exists on Windows")
def test_directml_not_applicable_off_windows():
    check = by_name(run_checks(quiet_config()), "DirectML")
    assert check.status == "ok"
    assert "not applicable" in check.detail


def test_cli_json_and_exit_code(tmp_path, capsys, monkeypatch):
    config = tmp_path / "node.toml"
    write_engine_set("separable", "fp32")  # so missing THA3 weights cannot fail this machine
    config.write_text('[input]\nvmc = "off"\n[control]\ncontrol = "off"\n[output]\noutput = ["null"]\n')
    assert cli.main(["doctor", "--json", "--config", str(config)]) == 0
    checks = json.loads(capsys.readouterr().out)
    assert {"name", "status", "detail", "fix"} <= set(checks[0])
    assert not any(c["name"].startswith("port ") for c in checks)

    monkeypatch.setitem(sys.modules, "aiohttp", None)
    assert cli.main(["doctor", "--config", str(config)]) == 1
    table = capsys.readouterr().out
    assert "✗ package aiohttp" in table
    assert "-m pip install aiohttp" in table
    assert "✓ python" in table
    assert "1 failed" in table


def test_table_keeps_paths_and_commands_whole():
    path = "/tmp/some-long-folder-name/with-hyphens/" + "x" * 80 + "/frames.sqlite3"
    table = format_table([Check("frame cache", "fail", f"{path} is damaged", f"delete {path}")], width=60)
    assert path in table.replace("\n", " ").split()
    assert table.splitlines()[0].startswith("✗ frame cache")
    assert "0 ok, 0 warnings, 1 failed" in table


def test_portaudio_is_found_with_the_input_devices_it_sees():
    class FakeSounddevice:
        @staticmethod
        def query_devices():
            return [{"max_input_channels": 2}, {"max_input_channels": 0}]

    check = runtime.check_portaudio(True, load=lambda: FakeSounddevice)
    assert (check.status, check.detail) == ("ok", "loaded; 1 input device(s)")


def test_missing_portaudio_warns_with_the_fix_only_when_the_voice_input_is_wanted():
    def missing():
        raise OSError("PortAudio library not found")

    wanted = runtime.check_portaudio(True, load=missing)
    assert wanted.status == "warn" and "PortAudio library not found" in wanted.detail
    assert ("libportaudio2" if sys.platform.startswith("linux") else "sounddevice") in wanted.fix
    assert runtime.check_portaudio(False, load=missing).status == "ok"
