"""run.py, the set-up entry point: argument handling, the extras per job and GPU choice, the one
ONNX Runtime package rule, stamps and the GPU detection. Creating a real venv is what CI does with it
(`python3 run.py test` on a fresh clone), so it is not repeated here."""

from __future__ import annotations

import ast
import importlib.util
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ezvtb_node.doctor import runtime
from ezvtb_node.tomlcompat import tomllib

ROOT = Path(__file__).resolve().parents[1]


def load_run_py():
    spec = importlib.util.spec_from_file_location("run_py_under_test", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_py = load_run_py()


def test_run_py_parses_as_python_3_6_so_old_interpreters_reach_the_version_message():
    ast.parse((ROOT / "run.py").read_text(encoding="utf-8"), feature_version=(3, 6))


def test_run_py_imports_only_the_standard_library():
    tree = ast.parse((ROOT / "run.py").read_text(encoding="utf-8"))
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert modules <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)


def test_too_old_a_python_is_refused_naming_both_versions():
    with pytest.raises(run_py.SetupError, match=r"needs Python 3\.10 or newer, this is Python 3\.9\.1"):
        run_py.check_python((3, 9, 1, "final", 0))
    run_py.check_python((3, 10, 0, "final", 0))


def test_gpu_option_is_read_before_or_right_after_the_job_and_the_rest_belongs_to_the_job():
    assert run_py.parse_args(["demo", "--gpu", "nvidia", "--seconds", "5"]) == (
        "demo",
        "nvidia",
        ["--seconds", "5"],
    )
    assert run_py.parse_args(["--gpu=directml", "cli", "run", "--gpu", "x"]) == (
        "cli",
        "directml",
        ["run", "--gpu", "x"],
    )
    assert run_py.parse_args(["test", "-q", "tests/doctor"]) == ("test", None, ["-q", "tests/doctor"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bogus"], "unknown job 'bogus': expected one of demo, test, cli"),
        ([], "no job given"),
        (["demo", "--gpu", "amd"], "--gpu must be one of nvidia, directml, none, got 'amd'"),
        (["demo", "--gpu"], "--gpu needs a value"),
    ],
)
def test_bad_arguments_say_what_was_expected(argv, message):
    with pytest.raises(run_py.SetupError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_py.parse_args(argv)


def test_extras_per_job_and_gpu_choice():
    assert run_py.extras_for("demo", "none") == ["export"]
    assert run_py.extras_for("cli", "nvidia") == ["export", "nvidia"]
    assert run_py.extras_for("test", "none") == ["export", "test"]
    assert run_py.extras_for("test", "nvidia") == ["export", "test-tools", "nvidia"]
    assert run_py.extras_for("test", "directml") == ["export", "test-tools", "directml"]


def onnxruntime_packages_of(extras: list[str]) -> set[str]:
    """The ONNX Runtime packages pyproject.toml names for these extras (self-references expanded)."""
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    found, todo, seen = set(), list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in optional[extra]:
            name = requirement.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip()
            if name == "ezvtb-node":
                todo += requirement.split("[", 1)[1].split("]", 1)[0].split(",")
            elif name in runtime.ONNXRUNTIME_VARIANTS:
                found.add(name)
    return found


@pytest.mark.parametrize("job", run_py.JOBS)
@pytest.mark.parametrize("gpu", run_py.GPU_CHOICES)
def test_every_job_and_gpu_choice_installs_at_most_one_onnxruntime_package(job, gpu):
    extras = run_py.extras_for(job, gpu)
    packages = onnxruntime_packages_of(extras)
    assert len(packages) <= 1, f"{job} --gpu {gpu} installs {extras}: {sorted(packages)}"
    assert run_py.wanted_onnxruntime(extras) == (next(iter(packages)) if packages else None)


def test_run_py_and_the_doctor_know_the_same_onnxruntime_variants():
    assert run_py.ONNXRUNTIME_VARIANTS == runtime.ONNXRUNTIME_VARIANTS


def test_a_second_or_another_onnxruntime_package_means_removing_every_one_first():
    remove = run_py.onnxruntime_to_remove
    assert remove([], "onnxruntime-gpu") == []
    assert remove(["onnxruntime-gpu"], "onnxruntime-gpu") == []
    assert remove(["onnxruntime"], None) == []  # nothing asked for: the one there stays
    assert remove(["onnxruntime"], "onnxruntime-gpu") == ["onnxruntime"]
    assert remove(["onnxruntime-gpu", "onnxruntime"], "onnxruntime-gpu") == ["onnxruntime", "onnxruntime-gpu"]
    assert remove(["onnxruntime-directml", "onnxruntime"], None) == ["onnxruntime", "onnxruntime-directml"]


def fake_dist_info(site: Path, folder: str, top_level: str | None) -> None:
    info = site / folder
    info.mkdir(parents=True)
    if top_level is not None:
        (info / "top_level.txt").write_text(top_level + "\n")


@pytest.mark.parametrize("windows", [False, True])
def test_installed_onnxruntime_packages_are_read_from_the_venv_without_starting_it(tmp_path, windows):
    site = tmp_path / ("Lib/site-packages" if windows else "lib/python3.11/site-packages")
    fake_dist_info(site, "onnxruntime_gpu-1.31.1.dist-info", "onnxruntime")
    fake_dist_info(site, "onnxruntime-1.32.0.dist-info", "onnxruntime")
    fake_dist_info(site, "onnxruntime_extensions-0.14.0.dist-info", "onnxruntime_extensions")
    fake_dist_info(site, "onnxruntime_directml-1.24.4.dist-info", None)  # no top_level.txt: known name
    fake_dist_info(site, "numpy-2.4.6.dist-info", "numpy")
    assert run_py.installed_onnxruntime(str(tmp_path)) == [
        "onnxruntime",
        "onnxruntime-directml",
        "onnxruntime-gpu",
    ]


def test_venv_paths_per_os():
    assert run_py.venv_python("V", windows=True) == os.path.join("V", "Scripts", "python.exe")
    assert run_py.venv_python("V", windows=False) == os.path.join("V", "bin", "python")
    assert run_py.venv_script("ezvtb-node", "V", windows=True) == os.path.join(
        "V", "Scripts", "ezvtb-node.exe"
    )


def test_the_stamp_changes_with_pyproject_or_run_py_and_is_per_extras_set(tmp_path):
    (tmp_path / "pyproject.toml").write_text("a")
    (tmp_path / "run.py").write_text("b")
    first = run_py.setup_fingerprint(str(tmp_path))
    assert run_py.setup_fingerprint(str(tmp_path)) == first
    (tmp_path / "pyproject.toml").write_text("a2")
    assert run_py.setup_fingerprint(str(tmp_path)) != first
    (tmp_path / "pyproject.toml").write_text("a")
    (tmp_path / "run.py").write_text("b2")
    assert run_py.setup_fingerprint(str(tmp_path)) != first
    assert run_py.stamp_path(["export"], "V") != run_py.stamp_path(["export", "test"], "V")


def test_gpu_choice_flag_then_remembered_then_detection_then_none():
    def no_detection():
        raise AssertionError("nvidia-smi must not be asked when the choice is already known")

    assert run_py.choose_gpu("directml", "nvidia", no_detection)[0] == "directml"
    assert run_py.choose_gpu(None, "none", no_detection)[0] == "none"
    gpu, why = run_py.choose_gpu(None, None, lambda: "NVIDIA GeForce RTX 3060, driver 581.57")
    assert gpu == "nvidia"
    assert why == "nvidia-smi answered: NVIDIA GeForce RTX 3060, driver 581.57"
    assert run_py.choose_gpu(None, None, lambda: None)[0] == "none"


def test_gpu_choices_that_the_platform_cannot_run_are_refused():
    with pytest.raises(run_py.SetupError, match="macOS has no NVIDIA CUDA"):
        run_py.check_gpu_fits_platform("nvidia", "darwin")
    with pytest.raises(run_py.SetupError, match="DirectML is Windows-only"):
        run_py.check_gpu_fits_platform("directml", "linux")
    run_py.check_gpu_fits_platform("nvidia", "win32")
    run_py.check_gpu_fits_platform("directml", "win32")


@pytest.mark.skipif(sys.platform == "win32", reason="the fake nvidia-smi is a POSIX shell script")
def test_nvidia_detection_reads_a_real_nvidia_smi_call(tmp_path, monkeypatch):
    script = tmp_path / "nvidia-smi"
    script.write_text(
        '#!/bin/sh\ntest "$1" = "--query-gpu=name,driver_version" || exit 3\n'
        "echo 'NVIDIA GeForce RTX 3060, 581.57'\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert run_py.detect_nvidia() == "NVIDIA GeForce RTX 3060, driver 581.57"
    script.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed'\nexit 9\n")
    assert run_py.detect_nvidia() is None


def run_run_py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, timeout=60
    )


def test_help_prints_the_usage():
    result = run_run_py("--help")
    assert result.returncode == 0
    assert "python run.py [--gpu nvidia|directml|none] demo|test|cli" in result.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="DirectML is available on Windows")
def test_an_impossible_gpu_choice_stops_before_touching_the_venv():
    result = run_run_py("--gpu", "directml", "demo")
    assert result.returncode == 1
    assert "run.py: error: --gpu directml: DirectML is Windows-only" in result.stderr
    assert "installing" not in result.stdout


def test_an_unknown_job_exits_1_with_the_usage():
    result = run_run_py("serve")
    assert result.returncode == 1
    assert "unknown job 'serve'" in result.stderr
    assert "usage: python run.py" in result.stderr


def test_the_doctors_fix_for_two_onnxruntime_packages_is_a_command_run_py_understands(tmp_path):
    from tests.doctor.test_gpu_stack import fake_distribution

    fake_distribution(tmp_path, "onnxruntime", "1.32.0", "onnxruntime")
    fake_distribution(tmp_path, "onnxruntime-gpu", "1.31.1", "onnxruntime")
    fix = runtime.check_onnxruntime_packages([str(tmp_path)]).fix
    command = fix.split(" (")[0].split()
    assert command[:2] == ["python", "run.py"]
    assert run_py.parse_args(command[2:]) == ("cli", "nvidia", ["doctor"])


@pytest.mark.parametrize(
    ("system", "how"), [("win32", "C:\\libjpeg-turbo64"), ("darwin", "brew install jpeg-turbo")]
)
def test_on_windows_and_macos_the_set_up_says_what_is_used_instead_of_debian_packages(system, how, capsys):
    run_py.ensure_system_packages("test", system=system)
    out = capsys.readouterr().out
    # This machine has no libjpeg-turbo at the Windows/macOS paths: the note names the fallback and the fix.
    assert "the frame cache uses Pillow's JPEG codec" in out and how in out
    assert "browser-source tests run a `chromium` found on PATH and are skipped without one" in out
    assert "error" not in out.lower() and "apt-get" not in out


def test_the_test_job_asks_for_the_browser_and_voice_input_debian_packages():
    demo = [name for name, _, _ in run_py.debian_packages("demo")]
    test = [name for name, _, _ in run_py.debian_packages("test")]
    assert demo == ["libturbojpeg0"]
    assert test == [
        "libturbojpeg0",
        "chromium",
        "espeak-ng",
        "libportaudio2",
        "pulseaudio",
        "pulseaudio-utils",
    ]
