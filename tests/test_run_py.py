"""run.py, the set-up entry point: argument handling, the extras per job and GPU choice, the one
ONNX Runtime package rule, stamps and the GPU detection. Creating a real venv is what CI does with it
(`python3 run.py test` on a fresh clone), so it is not repeated here."""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ezvtb_node.doctor import runtime
from ezvtb_node.tomlcompat import tomllib

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


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


# -- which Python ------------------------------------------------------------------------------------


def test_python_315_is_refused_before_pip_runs_with_the_windows_command_that_works():
    extras = run_py.extras_for("demo", "nvidia")
    with pytest.raises(run_py.SetupError) as refused:
        run_py.check_python_for(extras, ["demo", "--gpu", "nvidia"], (3, 15, 0, "final", 0), "win32")
    message = str(refused.value)
    assert "needs Python 3.11 to 3.14" in message and "this is Python 3.15.0" in message
    assert "onnxruntime-gpu" in message
    # 3.13, not 3.14: SpoutGL, the Windows user's next step, has no 3.14 wheel.
    assert "`py -3.13 run.py demo --gpu nvidia`" in message and "winget install Python.Python.3.13" in message


def test_python_310_is_refused_for_the_nvidia_runtime_but_not_for_the_cpu():
    with pytest.raises(run_py.SetupError, match=r"needs Python 3\.11 to 3\.14"):
        run_py.check_python_for(run_py.extras_for("demo", "nvidia"), ["demo"], (3, 10, 13), "linux")
    run_py.check_python_for(run_py.extras_for("demo", "none"), ["demo"], (3, 10, 13), "linux")
    run_py.check_python_for(run_py.extras_for("test", "none"), ["test"], (3, 14, 0), "linux")


def test_outside_windows_the_suggestion_is_the_newest_python_that_has_every_wheel():
    with pytest.raises(run_py.SetupError, match=r"`python3\.14 run\.py test -q` \(Python 3\.14 from brew"):
        run_py.check_python_for(run_py.extras_for("test", "none"), ["test", "-q"], (3, 15, 1), "darwin")


def test_every_extra_in_pyproject_has_a_python_range_and_nothing_else_does():
    assert set(run_py.PYTHONS_OF_EXTRA) == {"", *PROJECT["optional-dependencies"]}
    assert tuple(int(n) for n in PROJECT["requires-python"].lstrip(">=").split(".")) == run_py.MIN_PYTHON


def test_windows_python_314_hears_that_spout_needs_313_and_313_hears_nothing():
    assert "for Spout use Python 3.13: py -3.13 run.py" in run_py.spout_note((3, 14, 0))
    assert run_py.spout_note((3, 13, 5)) is None


def test_a_venv_made_by_another_python_is_made_again(tmp_path, monkeypatch):
    """A real pyvenv.cfg from another Python (when one is installed), else one as venv writes it."""
    other = tmp_path / "other"
    other_python = next(
        (f"python3.{minor}" for minor in (12, 13, 10) if shutil.which(f"python3.{minor}")), None
    )
    if (
        other_python
        and subprocess.run([other_python, "-m", "venv", "--without-pip", str(other)]).returncode == 0
    ):
        made_by = tuple(int(n) for n in other_python[len("python") :].split("."))
    else:
        other.mkdir()
        (other / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.12.1\n")
        made_by = (3, 12)
    assert run_py.venv_python_version(str(other)) == made_by
    assert run_py.venv_of_another_python(str(other), (*made_by, 0)) is None
    this = (3, 15) if made_by != (3, 15) else (3, 14)
    assert run_py.venv_of_another_python(str(other), this) == (
        f".venv was made by Python {made_by[0]}.{made_by[1]}, this is Python {this[0]}.{this[1]}"
    )
    virtualenv = tmp_path / "virtualenv"
    virtualenv.mkdir()
    (virtualenv / "pyvenv.cfg").write_text("home = C:\\Python313\nversion_info = 3.13.1.final.0\n")
    assert run_py.venv_python_version(str(virtualenv)) == (3, 13)


def test_ensure_venv_rebuilds_an_up_to_date_venv_of_another_python_and_keeps_one_of_this_python(
    tmp_path, monkeypatch
):
    venv = tmp_path / ".venv"
    python = Path(run_py.venv_python(str(venv)))
    python.parent.mkdir(parents=True)
    python.write_text("")
    monkeypatch.setattr(run_py, "VENV", str(venv))
    monkeypatch.setattr(run_py, "venv_python", lambda: str(python))
    monkeypatch.setattr(run_py, "stamp_path", lambda extras: str(venv / "stamp"))
    (venv / "stamp").write_text(run_py.setup_fingerprint())
    made, commands = [], []
    monkeypatch.setattr(run_py, "create_venv", lambda: made.append(True))
    monkeypatch.setattr(run_py, "run", lambda command, what: commands.append(what))

    (venv / "pyvenv.cfg").write_text(f"version = {sys.version_info[0]}.{sys.version_info[1]}.0\n")
    run_py.ensure_venv(["export"])
    assert made == [] and commands == []

    (venv / "pyvenv.cfg").write_text("version = 3.9.18\n")
    run_py.ensure_venv(["export"])
    assert made == [True]
    assert any(what.startswith("installing ezvtb-node with export") for what in commands)


def test_a_long_venv_path_on_windows_without_long_paths_is_warned_about_with_both_fixes():
    short, long = "C:\\ezvtb\\.venv", "C:\\Users\\" + "x" * 80 + "\\ezvtb-node\\.venv"
    assert run_py.long_path_note(short, long_paths_enabled=False) is None
    assert run_py.long_path_note(long, long_paths_enabled=True) is None
    note = run_py.long_path_note(long, long_paths_enabled=False)
    assert "Move the repository to a shorter folder" in note and "LongPathsEnabled" in note


def test_the_longest_path_below_the_venv_fits_the_figure_the_long_path_note_uses():
    """Measured on this checkout's .venv, as its files would lie on Windows (Lib\\site-packages)."""
    sites = run_py.site_packages()
    if not sites:
        pytest.skip("no .venv here (the suite runs from another environment)")
    longest = max(
        len(os.path.join("Lib", "site-packages", os.path.relpath(os.path.join(folder, name), site)))
        for site in sites
        for folder, _, names in os.walk(site)
        for name in names
    )
    assert longest <= run_py.LONGEST_PATH_IN_VENV, longest


def test_a_real_python_310_asking_for_the_nvidia_runtime_stops_before_touching_the_venv():
    try:
        usable = subprocess.run(["python3.10", "-c", ""], capture_output=True, timeout=60).returncode == 0
    except OSError:
        usable = False
    if not usable:
        pytest.skip("needs a Python 3.10 interpreter on PATH")
    result = subprocess.run(
        ["python3.10", str(ROOT / "run.py"), "--gpu", "nvidia", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "needs Python 3.11 to 3.14" in result.stderr and "this is Python 3.10." in result.stderr
    assert "`python3.14 run.py --gpu nvidia demo`" in result.stderr
    assert "venv" not in result.stdout
