"""Which mapping file to use: bundled names, paths, and the automatic choice per tracking source."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

from ezvtb_node import sources
from ezvtb_node.channels import ARKIT_BLENDSHAPES

# The node's choice for VMC when the user leaves it on "auto": perfect-sync models send ARKit
# names, ordinary VRM models send the VRM presets. A stray ARKit-looking clip on a VRM model
# (`TongueOut`, a custom `Mouth_L` read as `mouthLeft`) must not switch the stream, so perfect
# sync needs the shapes its mapping cannot do without and at least half of the 52. Presets sent
# beside a perfect-sync stream are not dropped either: vmc_perfect_sync.toml reads them too.
VMC_AUTO = "auto"
VMC_PERFECT_SYNC = "vmc_perfect_sync"
VMC_VRM = "vmc_vrm"
VOICE = "voice"
_ARKIT = frozenset(ARKIT_BLENDSHAPES)
PERFECT_SYNC_REQUIRED = frozenset({"eyeBlinkLeft", "eyeBlinkRight", "jawOpen"})
PERFECT_SYNC_MIN_SHAPES = len(ARKIT_BLENDSHAPES) // 2


# The package the wheel ships the mapping files in. pyproject.toml builds it from the top-level
# `mappings/` folder (`[tool.setuptools.package-dir]`), so the repository keeps one copy.
_BUNDLED_PACKAGE = "ezvtb_node.bundled_mappings"


def bundled_mappings_dir() -> Path:
    """The folder of the mapping files that come with ezvtb-node (a real folder: callers glob it).

    Installed from a wheel: the package data ``ezvtb_node.bundled_mappings``. Editable install or
    plain checkout: the checkout's top-level ``mappings/`` (the editable finder may map the package
    there, or may not know it; either way it is that folder). The package is found through the
    import system rather than ``importlib.resources.files``: it has no ``__init__.py`` (the user's
    mapping folder stays free of Python files), and for such a namespace package ``files()`` gives
    a MultiplexedPath instead of a folder before Python 3.12.
    Raises FileNotFoundError naming both places when neither exists.
    """
    try:
        spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    except ImportError:  # a broken finder on sys.path: fall back to the checkout
        spec = None
    if spec is not None:
        for location in spec.submodule_search_locations or ():
            folder = Path(location)
            if folder.is_dir() and any(folder.glob("*.toml")):
                return folder
    checkout = Path(__file__).resolve().parents[2] / "mappings"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"the bundled mapping files are missing: expected the package {_BUNDLED_PACKAGE} "
        f"(an installed ezvtb-node) or the folder {checkout} (a source checkout); reinstall ezvtb-node"
    )


def bundled_names() -> list[str]:
    """Names of the bundled mappings (file stems), sorted."""
    return sorted(p.stem for p in bundled_mappings_dir().glob("*.toml"))


def resolve_mapping_path(name: str) -> Path:
    """A path as given, or the name of a bundled mapping (``ifacialmocap`` → its bundled file)."""
    path = Path(name)
    if path.exists() or path.suffix or "/" in name or "\\" in name:
        return path
    bundled = bundled_mappings_dir() / f"{name}.toml"
    if bundled.exists():
        return bundled
    raise FileNotFoundError(f"no mapping file '{name}' (bundled mappings: {', '.join(bundled_names())})")


def vmc_candidates(vmc_choice: str) -> tuple[str, ...]:
    """Every mapping the VMC choice may use (so all of them can be checked before the node starts)."""
    return (VMC_PERFECT_SYNC, VMC_VRM) if vmc_choice == VMC_AUTO else (vmc_choice,)


def choose_mapping(
    source: str | None,
    channels: Iterable[str],
    vmc_choice: str,
    ifacialmocap_choice: str,
    voice_choice: str = VOICE,
) -> str:
    """The mapping name or path for a frame from ``source`` carrying ``channels`` (a voice frame
    reaches here alone only when no face tracker is live: then the voice-only mapping drives)."""
    if source == sources.VOICE:
        return voice_choice
    if source is None or source in sources.PHONE_SOURCES:
        return ifacialmocap_choice
    if vmc_choice != VMC_AUTO:
        return vmc_choice
    return VMC_PERFECT_SYNC if is_perfect_sync(channels) else VMC_VRM


def is_perfect_sync(channels: Iterable[str]) -> bool:
    """Whether a VMC frame's channel names come from a perfect-sync model: the ARKit shapes the
    perfect-sync mapping cannot do without (both blinks and the jaw), and half of the 52 or more."""
    arkit = _ARKIT.intersection(channels)
    return arkit >= PERFECT_SYNC_REQUIRED and len(arkit) >= PERFECT_SYNC_MIN_SHAPES
