"""The wheel works outside the checkout: it holds everything the package reads at run time (the
bundled mapping files among them, built from the top-level `mappings/` folder), and installed into a
fresh venv it runs `ezvtb-node demo` and `ezvtb-node mappings check` from a folder far from the
repository. The mapping lookup is also checked for an editable install and a plain checkout.

The fresh venvs get their third-party packages from this test interpreter's site-packages through a
`.pth` line (no second torch download); only ezvtb-node itself comes from the wheel (or the editable
install), and the tests assert that it does.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from ezvtb_node.doctor.runtime import ONNXRUNTIME_VARIANTS
from ezvtb_node.mapping.bundled import bundled_mappings_dir, bundled_names
from ezvtb_node.tomlcompat import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# What a source copy leaves out: build products, caches, venvs, user files.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "demo-out",
    "engines",
)


def package_folders() -> set[str]:
    """Every folder under ezvtb_node/ holding Python files, as a dotted package name."""
    found = set()
    for path in (ROOT / "ezvtb_node").rglob("*.py"):
        if "__pycache__" not in path.parts:
            found.add(".".join(path.parent.relative_to(ROOT).parts))
    return found


def test_pyproject_lists_every_subpackage_and_maps_the_mappings_folder():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    expected = package_folders() | {"ezvtb_node.bundled_mappings"}
    assert listed == expected, (
        f"[tool.setuptools] packages in pyproject.toml: add {sorted(expected - listed)}, "
        f"remove {sorted(listed - expected)}"
    )
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"ezvtb_node.bundled_mappings": "mappings"}


def test_from_this_checkout_the_mappings_come_from_the_top_level_folder():
    # The tests run on the checkout (editable install or none): one copy, the one users edit.
    assert bundled_mappings_dir() == ROOT / "mappings"
    assert bundled_names() == sorted(p.stem for p in (ROOT / "mappings").glob("*.toml"))


def site_dirs() -> list[str]:
    """This interpreter's site-packages folders (where the third-party packages are)."""
    paths = sysconfig.get_paths()
    dirs = [paths["purelib"], paths["platlib"], *site.getsitepackages()]
    return list(dict.fromkeys(d for d in dirs if os.path.isdir(d)))


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def test_a_plain_checkout_without_any_install_finds_the_mappings_folder(tmp_path):
    # -S: no site module, so no .pth file (and no editable-install finder) is processed; the
    # third-party packages come in through PYTHONPATH as plain folders.
    code = (
        "import ezvtb_node, ezvtb_node.mapping.bundled as b; "
        "print(ezvtb_node.__file__); print(b.bundled_mappings_dir()); print(','.join(b.bundled_names()))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=ROOT,
        env=clean_env(PYTHONPATH=os.pathsep.join([str(ROOT), *site_dirs()])),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    module, folder, names = result.stdout.splitlines()
    assert Path(module).resolve() == ROOT / "ezvtb_node" / "__init__.py"
    assert Path(folder) == ROOT / "mappings"
    assert names.split(",") == bundled_names()


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """The checkout's sources, copied: builds write build/ and *.egg-info next to the sources, and a
    stale build/ folder in the repository must never leak into the tested wheel."""
    copy = tmp_path_factory.mktemp("source") / "ezvtb-node"
    shutil.copytree(ROOT, copy, ignore=_NOT_SOURCE)
    return copy


@pytest.fixture(scope="module")
def wheel(source_copy, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(source_copy),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    (built,) = out.glob("ezvtb_node-*.whl")
    return built


def test_the_wheel_holds_every_runtime_file_and_nothing_from_outside_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    package_files = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "ezvtb_node").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert package_files - names == set(), "files of ezvtb_node/ missing from the wheel"
    mappings = {f"ezvtb_node/bundled_mappings/{p.name}" for p in (ROOT / "mappings").iterdir() if p.is_file()}
    assert {m for m in mappings if m.endswith((".toml", "README.md"))} <= names
    assert "ezvtb_interface.py" in names
    outside = {n for n in names if not n.startswith(("ezvtb_node/", "ezvtb_node-", "ezvtb_interface.py"))}
    assert outside == set(), f"the wheel holds files from outside the package: {sorted(outside)}"


def test_the_wheel_requires_no_onnxruntime_package_without_an_extra(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    requires = [
        line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")
    ]
    base = [r for r in requires if "extra ==" not in r]
    names = {
        r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower() for r in base
    }
    assert not names & set(ONNXRUNTIME_VARIANTS), base
    assert "openvino" in names
    assert "License-Expression: MIT" in metadata


def bin_dir(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts" if sys.platform == "win32" else "bin")


def fresh_venv(where: Path, hide_onnxruntime: bool) -> Path:
    """A venv without pip whose third-party packages come from this interpreter's site-packages.
    ``hide_onnxruntime``: make `import onnxruntime` fail there, as in the base install."""
    venv.create(where, with_pip=False)
    python = bin_dir(where) / ("python.exe" if sys.platform == "win32" else "python")
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Plain folder lines: the folders' own .pth files (this checkout's editable finder) stay unread.
    (Path(own_site) / "zz_test_dependencies.pth").write_text("\n".join(site_dirs()) + "\n")
    if hide_onnxruntime:
        (Path(own_site) / "zz_no_onnxruntime.pth").write_text(
            "import sys; sys.modules['onnxruntime'] = None\n"
        )
    return python


def pip_into(python: Path, *args: str) -> None:
    # pip --python: this interpreter's pip installs into the other venv (which has no pip).
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        # Without PYTHONPATH (tests/conftest.py points it at this checkout): pip would find this
        # checkout's ezvtb_node on the target's path, count it as installed and copy nothing.
        env=clean_env(),
    )
    assert result.returncode == 0, f"pip install {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def built_engines() -> Path:
    """The engines folder with the separable fp32 set the CPU demo renders (built once per checkout;
    the real-THA3 tests use the same folder)."""
    from ezvtb_node.core.models.tha3_build import ensure_engine_set
    from ezvtb_node.paths import engines_dir

    ensure_engine_set("separable", "fp32", progress=False)
    return engines_dir()


@pytest.mark.slow
def test_the_installed_wheel_runs_the_demo_and_checks_the_bundled_mappings_from_outside_the_checkout(
    wheel, built_engines, tmp_path
):
    python = fresh_venv(tmp_path / "venv", hide_onnxruntime=True)
    pip_into(python, str(wheel))
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = clean_env(EZVTB_ENGINES_DIR=str(built_engines), EZVTB_CACHE_DIR=str(tmp_path / "cache"))
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import ezvtb_node.mapping.bundled as b; print(b.__file__); print(b.bundled_mappings_dir())",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert where.returncode == 0, where.stderr
    module, folder = (Path(line) for line in where.stdout.splitlines())
    venv_root = (tmp_path / "venv").resolve()
    assert venv_root in module.resolve().parents, f"ezvtb_node came from {module}, not from the wheel"
    assert venv_root in folder.resolve().parents and folder.name == "bundled_mappings"

    script = bin_dir(tmp_path / "venv") / ("ezvtb-node.exe" if sys.platform == "win32" else "ezvtb-node")
    demo = subprocess.run(
        [str(script), "demo", "--seconds", "1"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert demo.returncode == 0, f"ezvtb-node demo failed:\n{demo.stdout}\n{demo.stderr}"
    out = work / "demo-out"
    for name in ("demo.webp", "contact-sheet.png", "report.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, f"demo did not write {name}"
    report = json.loads((out / "report.json").read_text())
    assert report["tha3_frames"] >= 1
    assert report["core"]["backend"] == "openvino"  # the base install's CPU runtime: no ONNX Runtime

    names = bundled_names()
    check = subprocess.run(
        [str(script), "mappings", "check", *names],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, f"ezvtb-node mappings check failed:\n{check.stdout}\n{check.stderr}"
    for name in names:
        assert name in check.stdout


@pytest.mark.slow
def test_an_editable_install_reads_the_mappings_from_the_checkout_folder(source_copy, tmp_path):
    python = fresh_venv(tmp_path / "venv", hide_onnxruntime=False)
    pip_into(python, "--no-build-isolation", "-e", str(source_copy))
    work = tmp_path / "elsewhere"
    work.mkdir()
    result = subprocess.run(
        [
            str(python),
            "-c",
            "import ezvtb_node.mapping.bundled as b; print(b.__file__); print(b.bundled_mappings_dir())",
        ],
        cwd=work,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    module, folder = (Path(line) for line in result.stdout.splitlines())
    assert module.resolve() == (source_copy / "ezvtb_node" / "mapping" / "bundled.py").resolve()
    assert folder.resolve() == (source_copy / "mappings").resolve()
