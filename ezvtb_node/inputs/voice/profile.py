"""Voice profiles: what a voice's vowels and level range look like, and their file format.

A profile holds one mean feature vector per vowel (a, i, u, e, o: VRM's A I U E O presets), a
per-coefficient spread (how much one vowel's frames scatter), and the level range: ``gate_db``
(quieter is silence: level 0) and ``full_db`` (this loud or louder: level 1). Saved as JSON
(:func:`save_profile`, :func:`load_profile`, validated with messages naming the key).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ezvtb_node.inputs.voice.features import FEATURE_SET, N_CEPS
from ezvtb_node.textfiles import read_text_file

VOWELS: tuple[str, ...] = ("a", "i", "u", "e", "o")
PROFILE_FORMAT = "ezvtb-voice-profile"
PROFILE_VERSION = 1

DEFAULT_GATE_DB = -50.0
DEFAULT_FULL_DB = -20.0
MIN_SPREAD = 0.3  # a single take scatters little; a floor keeps the classifier from being brittle


class ProfileError(ValueError):
    """A voice profile file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class VoiceProfile:
    """Vowel means (5, 12), the spread (12,), and the level range in dBFS (see the module doc)."""

    means: np.ndarray
    spread: np.ndarray
    gate_db: float = DEFAULT_GATE_DB
    full_db: float = DEFAULT_FULL_DB
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # kept as written (e.g. calibration notes)
    adapt: bool = False  # let the centre follow the speaker (see the module doc)

    def __post_init__(self) -> None:
        means = np.asarray(self.means, dtype=np.float64)
        spread = np.asarray(self.spread, dtype=np.float64)
        if means.shape != (len(VOWELS), N_CEPS) or spread.shape != (N_CEPS,):
            raise ValueError(
                f"expected means (5, {N_CEPS}) and spread ({N_CEPS},), got {means.shape}, {spread.shape}"
            )
        if not (np.isfinite(means).all() and np.isfinite(spread).all() and (spread > 0).all()):
            raise ValueError("expected finite means and a positive finite spread")
        if not self.full_db > self.gate_db:
            raise ValueError(f"expected full_db above gate_db, got {self.full_db:g} <= {self.gate_db:g}")
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "spread", spread)

    @property
    def centre(self) -> np.ndarray:
        """The average of the vowel means: where the classifier's centre starts."""
        return self.means.mean(axis=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "features": FEATURE_SET,
            "source": self.source,
            "adapt": self.adapt,
            "level": {"gate_db": round(self.gate_db, 2), "full_db": round(self.full_db, 2)},
            "vowels": {v: [round(float(c), 5) for c in self.means[i]] for i, v in enumerate(VOWELS)},
            "spread": [round(float(c), 5) for c in self.spread],
            **({"notes": self.extra} if self.extra else {}),
        }


def save_profile(profile: VoiceProfile, path: str | Path) -> None:
    """Write ``profile`` as JSON (readable, one vowel a line)."""
    data = profile.to_json()
    lines = ["{"]
    items = list(data.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if key == "vowels":
            inner = ",\n".join(f'    "{v}": {json.dumps(value[v])}' for v in VOWELS)
            lines.append(f'  "vowels": {{\n{inner}\n  }}{comma}')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


_MISSING = "nothing (the key is missing)"


def _shown(value: Any) -> str:
    """A value as a message shows it: short, with its bad part visible."""
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _numbers(value: Any, count: int, where: str) -> list[float]:
    if value is None:
        raise ProfileError(f"{where}: expected a list of {count} finite numbers, got {_MISSING}")
    if not isinstance(value, list):
        raise ProfileError(f"{where}: expected a list of {count} finite numbers, got {_shown(value)}")
    if len(value) != count:
        raise ProfileError(f"{where}: expected a list of {count} finite numbers, got a list of {len(value)}")
    for n, x in enumerate(value):
        if not isinstance(x, int | float) or isinstance(x, bool) or not math.isfinite(x):
            raise ProfileError(f"{where}[{n}]: expected a finite number, got {_shown(x)}")
    return [float(x) for x in value]


def profile_from_json(data: Any, where: str = "profile") -> VoiceProfile:
    """Validate parsed profile JSON; errors name ``where`` and the key."""
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != PROFILE_FORMAT:
        raise ProfileError(f'{where}: expected "format": "{PROFILE_FORMAT}", got {data.get("format")!r}')
    if data.get("version") != PROFILE_VERSION:
        raise ProfileError(f'{where}: expected "version": {PROFILE_VERSION}, got {data.get("version")!r}')
    if data.get("features") != FEATURE_SET:
        raise ProfileError(
            f'{where}: expected "features": "{FEATURE_SET}", got {data.get("features")!r} '
            "(made by another version: calibrate again)"
        )
    vowels = data.get("vowels")
    if not isinstance(vowels, dict) or sorted(vowels) != sorted(VOWELS):
        got = sorted(vowels) if isinstance(vowels, dict) else _shown(vowels)
        if vowels is None:
            got = _MISSING
        raise ProfileError(f'{where}: "vowels": expected an object with keys {list(VOWELS)}, got {got}')
    means = [_numbers(vowels[v], N_CEPS, f'{where}: "vowels"."{v}"') for v in VOWELS]
    spread = _numbers(data.get("spread"), N_CEPS, f'{where}: "spread"')
    for n, value in enumerate(spread):
        if value <= 0:
            raise ProfileError(f'{where}: "spread"[{n}]: expected a positive number, got {value:g}')
    level = data.get("level")
    if not isinstance(level, dict):
        got = _MISSING if level is None else _shown(level)
        raise ProfileError(f'{where}: "level": expected an object with "gate_db" and "full_db", got {got}')
    gate = level.get("gate_db")
    full = level.get("full_db")
    for key, value in (("gate_db", gate), ("full_db", full)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not -120 <= value <= 0:
            got = _MISSING if value is None else _shown(value)
            raise ProfileError(f'{where}: "level"."{key}": expected dBFS from -120 to 0, got {got}')
    if not full > gate:
        raise ProfileError(f'{where}: "level": expected full_db above gate_db, got {full} <= {gate}')
    source = data.get("source", "")
    notes = data.get("notes", {})
    adapt = data.get("adapt", False)
    if not isinstance(adapt, bool):
        raise ProfileError(f'{where}: "adapt": expected true or false, got {adapt!r}')
    return VoiceProfile(
        np.array(means),
        np.array(spread),
        float(gate),
        float(full),
        source if isinstance(source, str) else "",
        notes if isinstance(notes, dict) else {},
        adapt,
    )


def load_profile(path: str | Path) -> VoiceProfile:
    """Read and validate a profile file; raises FileNotFoundError or :class:`ProfileError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"voice profile not found: {path}")
    try:
        data = json.loads(read_text_file(path))
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}: expected a JSON voice profile, got invalid JSON ({exc})") from None
    return profile_from_json(data, str(path))
