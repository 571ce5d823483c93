"""Every extra resolves to wheels on every OS, with at most one ONNX Runtime package.

pip resolves pyproject.toml's requirements for another OS without installing anything
(`pip install --dry-run --ignore-installed --only-binary=:all: --platform … --report`), against PyPI
alone (`--isolated`: this machine's own mirrors and constraints do not count). pip evaluates
environment markers (`platform_system == 'Windows'`, in our extras and in every dependency's
metadata) for the machine it runs on, not for `--platform`, so the resolution runs in a pip whose
marker environment is the target's; the report's `environment` proves it did.

Stated exceptions, checked on their own:
* sdist-only pure-Python packages (SDIST_ONLY): left out of the wheel-only resolution; the test
  downloads their source distribution and builds it into a py3-none-any wheel (no compiler).
* TensorRT: `tensorrt-cu13` is a small source package and `tensorrt-cu13-libs` downloads the real
  wheel from NVIDIA's own index at install time (neither is resolvable from PyPI alone); the
  `tensorrt-cu13-bindings` wheels are resolved for Windows and Linux, and the CUDA major of the
  `tensorrt` extra must equal the one `nvidia` resolves to.

Which Pythons: every extra set that run.py installs (and `spout`) is resolved for each OS at Python
3.10 to 3.15, and it must resolve exactly at the versions run.py's PYTHONS_OF_EXTRA table allows
(run.py refuses the others before pip runs, so the table must not be wider or narrower than PyPI).

Needs PyPI: marked `network`, skipped with the reason when PyPI cannot be reached.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ezvtb_node.doctor.runtime import ONNXRUNTIME_VARIANTS
from ezvtb_node.tomlcompat import tomllib
from tests.test_run_py import load_run_py

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PYTHON = "3.11"

# Pure-Python packages published without wheels: {name: (its runtime requirements, why)}.
SDIST_ONLY = {
    "pyturbojpeg": (
        ("numpy",),
        "PyTurboJPEG 1.x (the libjpeg-turbo 2.x API that Debian 12 ships) exists only as a source "
        "distribution; it is one Python file, built into a py3-none-any wheel without a compiler",
    ),
}
_COMMON = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.9",
    "platform_python_implementation": "CPython",
    "python_full_version": "3.11.9",
    "python_version": PYTHON,
}
WINDOWS = {
    **_COMMON,
    "os_name": "nt",
    "sys_platform": "win32",
    "platform_system": "Windows",
    "platform_machine": "AMD64",
    "platform_release": "10",
    "platform_version": "10.0.22631",
}
MACOS = {
    **_COMMON,
    "os_name": "posix",
    "sys_platform": "darwin",
    "platform_system": "Darwin",
    "platform_machine": "arm64",
    "platform_release": "23.6.0",
    "platform_version": "Darwin Kernel Version 23.6.0",
}
LINUX = {
    **_COMMON,
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "platform_release": "6.1.0",
    "platform_version": "#1 SMP",
}
# pip widens macOS tags to older releases and universal2 itself, but takes manylinux_2_X tags
# literally: list glibc 2.5 … 2.35 (Ubuntu 22.04; Debian 12 has 2.36).
LINUX_PLATFORMS = (*(f"manylinux_2_{minor}_x86_64" for minor in range(35, 4, -1)), "manylinux2014_x86_64")


@dataclass(frozen=True)
class Target:
    label: str
    extras: tuple[str, ...]
    platforms: tuple[str, ...]
    environment: dict
    onnxruntime: str | None  # the one ONNX Runtime package this set must resolve to

    @property
    def id(self) -> str:
        return f"{self.label} [{','.join(self.extras) or 'base'}]"


TARGETS = (
    Target("Windows x86-64", ("nvidia", "spout"), ("win_amd64",), WINDOWS, "onnxruntime-gpu"),
    Target("Windows x86-64", ("directml", "spout"), ("win_amd64",), WINDOWS, "onnxruntime-directml"),
    Target("macOS arm64", (), ("macosx_14_0_arm64",), MACOS, None),
    Target("Linux x86-64", ("nvidia",), LINUX_PLATFORMS, LINUX, "onnxruntime-gpu"),
    # What `run.py demo --gpu nvidia` installs on Linux: the export extra (torch) beside the GPU
    # runtime. torch's Linux wheel brings its own CUDA wheels, which must agree with onnxruntime-gpu's
    # (on Windows and macOS torch's wheels have no CUDA dependencies).
    Target("Linux x86-64", ("export", "nvidia"), LINUX_PLATFORMS, LINUX, "onnxruntime-gpu"),
)

# Runs pip with the target's marker environment (see the module docstring).
_PIP_FOR_TARGET = """
import json, sys
import pip._vendor.packaging.markers as markers
target = json.loads(sys.argv[1])
markers.default_environment = lambda: dict(target)
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"cannot read a package name from {requirement!r}"
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def requirements_for(extras: tuple[str, ...]) -> list[str]:
    """pyproject's dependencies plus the extras' (self-references expanded), markers kept."""
    requirements = list(PROJECT["dependencies"])
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in PROJECT["optional-dependencies"][extra]:
            if requirement_name(requirement) == "ezvtb-node":
                todo += requirement.split("[", 1)[1].split("]", 1)[0].split(",")
            else:
                requirements.append(requirement)
    return requirements


def wheel_only(requirements: list[str]) -> list[str]:
    """The requirements with the sdist-only packages replaced by their own requirements."""
    kept = [r for r in requirements if requirement_name(r) not in SDIST_ONLY]
    for requirement in requirements:
        if (name := requirement_name(requirement)) in SDIST_ONLY:
            kept += SDIST_ONLY[name][0]
    return kept


def pip_for_target(environment: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _PIP_FOR_TARGET, json.dumps(environment), "--isolated", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def for_python(environment: dict, version: str) -> dict:
    """The marker environment of the same OS with another Python (``python_version < '3.11'``
    markers, tomli, depend on it)."""
    return {
        **environment,
        "python_version": version,
        "python_full_version": f"{version}.0",
        "implementation_version": f"{version}.0",
    }


def resolve(
    environment: dict, platforms: tuple[str, ...], requirements: list[str], work: Path, *extra: str
) -> dict:
    """pip's --report of a dry-run install for the target; fails with pip's own words."""
    work.mkdir(parents=True)
    report = work / "report.json"
    try:
        result = resolve_with_pip(environment, platforms, requirements, work, report, *extra)
    except subprocess.TimeoutExpired as exc:
        return {"error": f"pip did not finish within {exc.timeout:g} s for {platforms[0]} (a busy machine?)"}
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-12:])
        return {"error": f"pip could not resolve wheels for {platforms[0]}:\n{tail}"}
    return json.loads(report.read_text())


def resolve_with_pip(
    environment: dict,
    platforms: tuple[str, ...],
    requirements: list[str],
    work: Path,
    report: Path,
    *extra: str,
) -> subprocess.CompletedProcess:
    return pip_for_target(
        environment,
        "install",
        "--dry-run",
        "--ignore-installed",
        "--only-binary=:all:",
        *(f"--platform={platform}" for platform in platforms),
        f"--python-version={environment['python_version']}",
        "--implementation=cp",
        "--target",
        str(work / "target"),
        "--report",
        str(report),
        "--quiet",
        *extra,
        *requirements,
    )


def pypi_reachable() -> str | None:
    """None when PyPI answers, else why not."""
    try:
        urllib.request.urlopen(
            urllib.request.Request("https://pypi.org/simple/pip/", method="HEAD"), timeout=20
        )
    except (urllib.error.URLError, OSError) as exc:
        return f"PyPI cannot be reached from here ({exc}); these tests resolve the extras against it"
    return None


def tensorrt_requirement() -> str:
    (requirement,) = [
        r for r in PROJECT["optional-dependencies"]["tensorrt"] if requirement_name(r).startswith("tensorrt")
    ]
    return requirement


def build_sdist_only(name: str, work: Path) -> dict:
    """Download the sdist of an SDIST_ONLY package in the range pyproject asks for and build it."""
    (requirement,) = [r for r in PROJECT["dependencies"] if requirement_name(r) == name]
    requirement = requirement.split(";")[0]
    sdists, wheels = work / "sdist", work / "wheel"
    download = pip_for_target(
        LINUX, "download", "--no-deps", "--no-binary=:all:", "--dest", str(sdists), requirement
    )
    if download.returncode != 0:
        return {"error": f"no source distribution of {requirement}:\n{download.stderr[-2000:]}"}
    (sdist,) = list(sdists.iterdir())
    with tarfile.open(sdist) as archive:
        compiled = [m.name for m in archive.getmembers() if m.name.endswith((".c", ".cpp", ".pyx", ".cu"))]
    build = pip_for_target(LINUX, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(sdist))
    if build.returncode != 0:
        return {"error": f"building {sdist.name} failed:\n{build.stderr[-2000:]}"}
    (wheel,) = list(wheels.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    requires = [
        requirement_name(line.split(":", 1)[1])
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    return {"sdist": sdist.name, "wheel": wheel.name, "compiled_sources": compiled, "requires": requires}


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory) -> dict:
    """Every resolution of this module, run in parallel once (they wait on the network)."""
    if (reason := pypi_reachable()) is not None:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("resolve")
    # tensorrt-cu13>=X,<Y → tensorrt-cu13-bindings>=X,<Y (the meta package pins the same version).
    name = requirement_name(tensorrt_requirement())
    bindings_requirement = re.sub(
        r"^\s*[A-Za-z0-9._-]+", f"{name}-bindings", tensorrt_requirement().split(";")[0]
    )
    jobs = {
        target.id: (
            resolve,
            target.environment,
            target.platforms,
            wheel_only(requirements_for(target.extras)),
            work / f"t{index}",
        )
        for index, target in enumerate(TARGETS)
    }
    jobs["tensorrt bindings Windows"] = (
        resolve,
        WINDOWS,
        ("win_amd64",),
        [bindings_requirement],
        work / "trt-win",
        "--no-deps",
    )
    jobs["tensorrt bindings Linux"] = (
        resolve,
        LINUX,
        LINUX_PLATFORMS,
        [bindings_requirement],
        work / "trt-linux",
        "--no-deps",
    )
    for name in SDIST_ONLY:
        jobs[f"sdist {name}"] = (build_sdist_only, name, work / f"sdist-{name}")
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {key: pool.submit(job[0], *job[1:]) for key, job in jobs.items()}
        results = {key: future.result() for key, future in futures.items()}
    summary = {key: len(r["install"]) for key, r in results.items() if "install" in r}
    print("\npackages per resolution:", json.dumps(summary, indent=1))
    return results


def installed(report: dict) -> dict[str, dict]:
    return {requirement_name(item["metadata"]["name"]): item for item in report["install"]}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_every_extra_set_resolves_to_wheels_with_at_most_one_onnxruntime_package(resolutions, target):
    report = resolutions[target.id]
    assert "error" not in report, report.get("error")
    assert report["environment"]["sys_platform"] == target.environment["sys_platform"], (
        "pip evaluated the markers for this machine, not for the target: the marker patch no longer works"
    )
    packages = installed(report)
    not_wheels = [
        item["download_info"]["url"]
        for item in packages.values()
        if not item["download_info"]["url"].endswith(".whl")
    ]
    assert not_wheels == []
    onnxruntimes = sorted(set(packages) & set(ONNXRUNTIME_VARIANTS))
    assert onnxruntimes == ([target.onnxruntime] if target.onnxruntime else []), (
        f"{target.id} resolves to ONNX Runtime packages {onnxruntimes}"
    )
    assert "openvino" in packages
    assert ("spoutgl" in packages) == ("spout" in target.extras)
    print(f"{target.id}: {len(packages)} wheels")


def cuda_major(packages: dict[str, dict], prefix: str) -> set[int]:
    return {
        int(item["metadata"]["version"].split(".")[0])
        for name, item in packages.items()
        if name.startswith(prefix)
    }


@pytest.mark.parametrize("target", [t for t in TARGETS if "nvidia" in t.extras], ids=lambda t: t.id)
def test_the_nvidia_extra_brings_one_cuda_major_and_tensorrt_matches_it(resolutions, target):
    report = resolutions[target.id]
    assert "error" not in report, report.get("error")
    packages = installed(report)
    runtime = cuda_major(packages, "nvidia-cuda-runtime")
    assert len(runtime) == 1, f"CUDA runtime wheels of several majors: {runtime}"
    (major,) = runtime
    assert cuda_major(packages, "cuda-bindings") == {major}
    assert "nvidia-cudnn-cu" + str(major) in packages
    assert requirement_name(tensorrt_requirement()) == f"tensorrt-cu{major}", (
        f"the tensorrt extra asks for {tensorrt_requirement()!r} but onnxruntime-gpu brings CUDA {major}"
    )


@pytest.mark.parametrize("os_label", ["Windows", "Linux"])
def test_tensorrt_bindings_have_wheels_while_its_libraries_come_from_nvidia(resolutions, os_label):
    report = resolutions[f"tensorrt bindings {os_label}"]
    assert "error" not in report, report.get("error")
    (item,) = report["install"]
    assert item["download_info"]["url"].endswith(".whl")


@pytest.mark.parametrize("name", sorted(SDIST_ONLY))
def test_sdist_only_packages_build_into_pure_python_wheels_without_a_compiler(resolutions, name):
    built = resolutions[f"sdist {name}"]
    assert "error" not in built, built.get("error")
    assert built["wheel"].endswith("-py3-none-any.whl"), built
    assert built["compiled_sources"] == []
    assert set(built["requires"]) <= set(SDIST_ONLY[name][0]), built["requires"]


# -- which Pythons ----------------------------------------------------------------------------------

PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
# Each extra set run.py installs per OS (demo: export + the GPU runtime; test: export + test), and
# spout on its own (its bound is SpoutGL's, the README's next step on Windows).
PYTHON_TARGETS = (
    Target("Windows x86-64", ("export",), ("win_amd64",), WINDOWS, None),
    Target("Windows x86-64", ("export", "nvidia"), ("win_amd64",), WINDOWS, "onnxruntime-gpu"),
    Target("Windows x86-64", ("export", "directml"), ("win_amd64",), WINDOWS, "onnxruntime-directml"),
    Target("Windows x86-64", ("export", "test"), ("win_amd64",), WINDOWS, "onnxruntime"),
    Target("Windows x86-64", ("spout",), ("win_amd64",), WINDOWS, None),
    Target("macOS arm64", ("export",), ("macosx_14_0_arm64",), MACOS, None),
    Target("macOS arm64", ("export", "test"), ("macosx_14_0_arm64",), MACOS, "onnxruntime"),
    Target("Linux x86-64", ("export",), LINUX_PLATFORMS, LINUX, None),
    Target("Linux x86-64", ("export", "nvidia"), LINUX_PLATFORMS, LINUX, "onnxruntime-gpu"),
    Target("Linux x86-64", ("export", "test"), LINUX_PLATFORMS, LINUX, "onnxruntime"),
)


@pytest.fixture(scope="module")
def python_resolutions(tmp_path_factory) -> dict:
    """{(target id or 'tensorrt bindings OS', python): resolves?} over PYTHONS, a few at a time."""
    if (reason := pypi_reachable()) is not None:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("pythons")
    name = requirement_name(tensorrt_requirement())
    bindings = re.sub(r"^\s*[A-Za-z0-9._-]+", f"{name}-bindings", tensorrt_requirement().split(";")[0])
    jobs = {}
    for python in PYTHONS:
        for index, target in enumerate(PYTHON_TARGETS):
            requirements = wheel_only(requirements_for(target.extras))
            jobs[target.id, python] = (
                target.environment,
                target.platforms,
                requirements,
                f"t{index}-{python}",
            )
        for label, environment, platforms in (
            ("Windows", WINDOWS, ("win_amd64",)),
            ("Linux", LINUX, LINUX_PLATFORMS),
        ):
            jobs[f"tensorrt bindings {label}", python] = (
                environment,
                platforms,
                [bindings],
                f"trt-{label}-{python}",
            )
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            key: pool.submit(resolve, for_python(env, key[1]), platforms, requirements, work / folder)
            for key, (env, platforms, requirements, folder) in jobs.items()
        }
        results = {key: future.result() for key, future in futures.items()}
    return {key: resolves(report) for key, report in results.items()}


# What pip says when a version has no wheel; any other failure (network, timeout) is not an answer.
NO_WHEEL = ("No matching distribution found", "Could not find a version that satisfies")


def resolves(report: dict) -> bool | str:
    """True, False (pip found no wheels for some requirement), or pip's error when it answered neither."""
    if "error" not in report:
        return True
    return False if any(words in report["error"] for words in NO_WHEEL) else report["error"]


def allowed(extras: tuple[str, ...], python: str) -> bool:
    oldest, newest, _ = load_run_py().supported_pythons(extras)
    return oldest <= tuple(int(n) for n in python.split(".")) <= newest


@pytest.mark.parametrize("target", PYTHON_TARGETS, ids=lambda t: t.id)
def test_an_extra_set_resolves_at_exactly_the_pythons_run_py_allows_for_it(python_resolutions, target):
    answers = {python: python_resolutions[target.id, python] for python in PYTHONS}
    unanswered = {python: answer for python, answer in answers.items() if isinstance(answer, str)}
    assert not unanswered, unanswered
    expected = {python: allowed(target.extras, python) for python in PYTHONS}
    assert answers == expected, f"{target.id}: PyPI has wheels at {answers}, run.py allows {expected}"


@pytest.mark.parametrize("os_label", ["Windows", "Linux"])
def test_tensorrt_bindings_have_wheels_at_every_python_the_tensorrt_extra_allows(
    python_resolutions, os_label
):
    for python in PYTHONS:
        if allowed(("tensorrt",), python):
            assert python_resolutions[f"tensorrt bindings {os_label}", python] is True, python
