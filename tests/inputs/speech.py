"""Real speech for the voice tests: Japanese vowels spoken by espeak-ng, made at test time.

``vowel_take`` speaks あー いー うー えー おー one at a time and joins them with silent pauses, so the
tests know where each vowel is. Tests that need it skip (naming the Debian package) when espeak-ng
is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ezvtb_node.inputs.voice.audio import read_wav, write_wav
from ezvtb_node.inputs.voice.profile import VOWELS

KANA = {"a": "あー", "i": "いー", "u": "うー", "e": "えー", "o": "おー"}

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="needs espeak-ng (Debian package espeak-ng) to speak test vowels",
)


@dataclass(frozen=True)
class Take:
    path: Path
    samples: np.ndarray
    rate: int
    spans: dict[str, tuple[float, float]]  # vowel → (start s, end s) of the spoken sound


def speak(
    text: str, path: Path, voice: str = "ja", pitch: int = 50, speed: int = 100
) -> tuple[np.ndarray, int]:
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return read_wav(path)


def vowel_take(
    folder: Path, name: str, *, voice: str = "ja", pitch: int = 50, speed: int = 100, pause_s: float = 0.6
) -> Take:
    """a, i, u, e, o with ``pause_s`` of silence before, between and after; written to folder/name.wav."""
    parts: list[np.ndarray] = []
    spans = {}
    rate = 0
    position = 0
    for vowel in VOWELS:
        samples, rate = speak(KANA[vowel], folder / f"{name}-{vowel}.wav", voice, pitch, speed)
        pause = np.zeros(int(rate * pause_s), np.float32)
        parts += [pause, samples]
        position += len(pause)
        spans[vowel] = (position / rate, (position + len(samples)) / rate)
        position += len(samples)
    parts.append(np.zeros(int(rate * pause_s), np.float32))
    samples = np.concatenate(parts)
    path = folder / f"{name}.wav"
    write_wav(path, samples, rate)
    return Take(path, samples, rate, spans)
