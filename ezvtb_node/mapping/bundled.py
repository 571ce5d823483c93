"""Which mapping file to use: bundled names, paths, and the automatic choice per tracking source."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ezvtb_node.channels import ARKIT_BLENDSHAPES

# The node's choice for VMC when the user leaves it on "auto": perfect-sync models send ARKit
# names, ordinary VRM models send the VRM presets.
VMC_AUTO = "auto"
VMC_PERFECT_SYNC = "vmc_perfect_sync"
VMC_VRM = "vmc_vrm"
VOICE = "voice"
_ARKIT = frozenset(ARKIT_BLENDSHAPES)
# Sources whose frames carry ARKit names from a phone (they use the iFacialMocap mapping).
_PHONE_SOURCES = frozenset({"ifacialmocap", "facemotion3d"})


def bundled_mappings_dir() -> Path:
    """The folder of the mapping files that come with ezvtb-node."""
    return Path(__file__).resolve().parents[2] / "mappings"


def bundled_names() -> list[str]:
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
    if source == "voice":
        return voice_choice
    if source is None or source in _PHONE_SOURCES:
        return ifacialmocap_choice
    if vmc_choice != VMC_AUTO:
        return vmc_choice
    return VMC_PERFECT_SYNC if any(name in _ARKIT for name in channels) else VMC_VRM
