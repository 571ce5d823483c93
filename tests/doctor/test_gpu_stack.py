"""Doctor checks of the installed GPU stack: ONNX Runtime variants side by side, and an NVIDIA driver
too old for the installed CUDA runtime wheels.

The installed packages are faked as real ``.dist-info`` folders in a temporary folder that the checks
read through ``importlib.metadata`` (their ``search_path`` seam); the driver through the ``driver``
seam, and once through a fake ``nvidia-smi`` executable on PATH.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from ezvtb_node.doctor import runtime
from ezvtb_node.doctor.runtime import (
    DriverInfo,
    check_cuda_driver,
    check_onnxruntime_packages,
    installed_onnxruntime_variants,
    nvidia_driver_info,
    parse_nvidia_smi_driver_version,
)


def fake_distribution(site: Path, name: str, version: str, top_level: str | None = None) -> None:
    """A ``.dist-info`` folder as pip leaves one (METADATA, and top_level.txt when given)."""
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if top_level is not None:
        (folder / "top_level.txt").write_text(top_level + "\n")


@pytest.fixture
def site(tmp_path) -> Path:
    return tmp_path / "site-packages"


def driver(version: str | None, cuda_api: tuple[int, int] | None = None) -> DriverInfo:
    return DriverInfo(version, cuda_api, "a fake driver")


def test_two_onnxruntime_variants_side_by_side_fail_with_the_command_that_fixes_it(site):
    fake_distribution(site, "onnxruntime", "1.32.0", "onnxruntime")
    fake_distribution(site, "onnxruntime-gpu", "1.31.1", "onnxruntime")
    check = check_onnxruntime_packages([str(site)])
    assert check.status == "fail"
    assert "onnxruntime 1.32.0, onnxruntime-gpu 1.31.1 are installed side by side" in check.detail
    # Both go first, then the GPU one comes back (uninstalling one alone would break the other).
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in check.fix
    assert "nvidia" in check.fix


def test_directml_beside_the_cpu_package_is_fixed_towards_directml(site):
    fake_distribution(site, "onnxruntime", "1.32.0", "onnxruntime")
    fake_distribution(site, "onnxruntime-directml", "1.24.4", "onnxruntime")
    check = check_onnxruntime_packages([str(site)])
    assert check.status == "fail"
    assert "pip uninstall -y onnxruntime onnxruntime-directml" in check.fix
    assert "--gpu directml" in check.fix or "[directml]" in check.fix


def test_one_onnxruntime_variant_or_none_is_fine(site):
    site.mkdir()
    assert check_onnxruntime_packages([str(site)]).status == "ok"
    assert "none installed" in check_onnxruntime_packages([str(site)]).detail
    fake_distribution(site, "onnxruntime-gpu", "1.31.1", "onnxruntime")
    check = check_onnxruntime_packages([str(site)])
    assert (check.status, check.detail) == ("ok", "onnxruntime-gpu 1.31.1")


def test_packages_named_like_onnxruntime_that_ship_another_module_are_not_variants(site):
    fake_distribution(site, "onnxruntime-gpu", "1.31.1", "onnxruntime")
    fake_distribution(site, "onnxruntime-extensions", "0.14.0", "onnxruntime_extensions")
    fake_distribution(site, "onnxruntime-genai", "0.9.0", "onnxruntime_genai")
    assert installed_onnxruntime_variants([str(site)]) == {"onnxruntime-gpu": "1.31.1"}
    assert check_onnxruntime_packages([str(site)]).status == "ok"


def test_a_variant_without_top_level_metadata_is_known_by_its_name(site):
    fake_distribution(site, "onnxruntime_openvino", "1.23.0")  # the name as some indexes spell it
    fake_distribution(site, "onnxruntime", "1.32.0")
    assert installed_onnxruntime_variants([str(site)]) == {
        "onnxruntime": "1.32.0",
        "onnxruntime-openvino": "1.23.0",
    }
    assert check_onnxruntime_packages([str(site)]).status == "fail"


def test_this_environment_has_at_most_one_onnxruntime_package():
    check = check_onnxruntime_packages()
    assert check.status == "ok", f"{check.detail} / {check.fix}"


def test_cuda_13_wheels_with_an_r570_linux_driver_fail_and_say_which_driver_is_needed(site):
    fake_distribution(site, "nvidia-cuda-runtime", "13.5.37")
    check = check_cuda_driver([str(site)], driver=lambda: driver("570.86.15"), platform="linux")
    assert check.status == "fail"
    assert (
        "driver 570.86.15 is older than the CUDA 13 runtime wheels need (driver >= 580.65.06)" in check.detail
    )
    assert "nvidia-cuda-runtime 13.5.37" in check.detail
    assert "580.65.06" in check.fix and "R580" in check.fix
    assert "https://www.nvidia.com/drivers" in check.fix


def test_cuda_13_wheels_on_windows_need_the_r580_branch(site):
    fake_distribution(site, "nvidia-cuda-runtime", "13.5.37")
    too_old = check_cuda_driver([str(site)], driver=lambda: driver("576.88"), platform="win32")
    assert too_old.status == "fail"
    assert "driver >= 580" in too_old.detail
    new_enough = check_cuda_driver([str(site)], driver=lambda: driver("581.57"), platform="win32")
    assert new_enough.status == "ok"
    assert "driver 581.57 runs the CUDA 13 runtime wheels" in new_enough.detail


def test_cuda_12_wheels_use_the_cuda_12_minimums_per_os(site):
    fake_distribution(site, "nvidia-cuda-runtime-cu12", "12.9.79")

    def status(version: str, platform: str) -> str:
        return check_cuda_driver([str(site)], driver=lambda: driver(version), platform=platform).status

    assert (status("528.33", "win32"), status("527.99", "win32")) == ("ok", "fail")
    assert (status("525.60.13", "linux"), status("525.60.11", "linux")) == ("ok", "fail")


def test_the_newest_cuda_major_installed_decides(site):
    fake_distribution(site, "nvidia-cuda-runtime-cu12", "12.9.79")  # e.g. from torch
    fake_distribution(site, "nvidia-cuda-runtime", "13.5.37")  # from onnxruntime-gpu[cuda]
    check = check_cuda_driver([str(site)], driver=lambda: driver("560.94"), platform="win32")
    assert check.status == "fail"
    assert "CUDA 13" in check.detail


def test_without_nvidia_smi_the_driver_api_version_decides(site):
    fake_distribution(site, "nvidia-cuda-runtime", "13.5.37")
    old = check_cuda_driver([str(site)], driver=lambda: driver(None, (12, 8)), platform="linux")
    assert old.status == "fail"
    assert "the driver runs CUDA up to 12.8, the wheels are CUDA 13" in old.detail
    assert (
        check_cuda_driver([str(site)], driver=lambda: driver(None, (13, 0)), platform="linux").status == "ok"
    )


def test_no_cuda_wheels_means_nothing_to_match_and_no_driver_query(site):
    site.mkdir()

    def must_not_ask() -> DriverInfo:
        raise AssertionError("the driver was queried although no CUDA runtime wheel is installed")

    check = check_cuda_driver([str(site)], driver=must_not_ask)
    assert check.status == "ok"
    assert "no CUDA runtime wheels" in check.detail


def test_cuda_wheels_without_any_driver_only_warn(site):
    fake_distribution(site, "nvidia-cuda-runtime", "13.5.37")
    check = check_cuda_driver([str(site)], driver=lambda: DriverInfo(None, None, "nvidia-smi not found"))
    assert check.status == "warn"
    assert "nvidia-smi not found" in check.detail
    assert "580" in check.fix


def test_nvidia_smi_output_parsing():
    assert parse_nvidia_smi_driver_version("581.57\n581.57\n") == "581.57"
    assert parse_nvidia_smi_driver_version("  570.86.15 \n") == "570.86.15"
    assert parse_nvidia_smi_driver_version("No devices were found\n") is None
    assert parse_nvidia_smi_driver_version("") is None


def write_fake_nvidia_smi(folder: Path, body: str) -> None:
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(sys.platform == "win32", reason="the fake nvidia-smi is a POSIX shell script")
def test_the_driver_version_is_read_from_a_real_nvidia_smi_call(tmp_path, monkeypatch):
    write_fake_nvidia_smi(
        tmp_path,
        'test "$1" = "--query-gpu=driver_version" && test "$2" = "--format=csv,noheader" || exit 3\n'
        "printf '570.86.15\\n570.86.15\\n'",
    )
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    info = nvidia_driver_info()
    assert info.version == "570.86.15"
    assert info.found.startswith("nvidia-smi")


@pytest.mark.skipif(sys.platform == "win32", reason="the fake nvidia-smi is a POSIX shell script")
def test_a_failing_nvidia_smi_gives_no_version_and_says_why(tmp_path, monkeypatch):
    write_fake_nvidia_smi(
        tmp_path,
        'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."; exit 9',
    )
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    version, why = runtime._nvidia_smi_driver_version()
    assert version is None
    assert "couldn't communicate with the NVIDIA driver" in why
