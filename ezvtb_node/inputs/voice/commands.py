"""`ezvtb-node voice calibrate|devices`: a voice profile from a take or from prompts at the microphone."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from ezvtb_node.inputs.voice.audio import (
    InputDevice,
    find_input_device,
    list_input_devices,
    read_wav,
    record_seconds,
)
from ezvtb_node.inputs.voice.calibration import CalibrationResult, calibrate_take, calibrate_takes
from ezvtb_node.inputs.voice.profile import VOWELS, save_profile

KANA = {"a": "あ", "i": "い", "u": "う", "e": "え", "o": "お"}
SILENCE_S = 2.0
VOWEL_S = 2.5
COUNTDOWN_S = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    voice = subparsers.add_parser(
        "voice",
        help="voice lip sync: calibrate a profile, list microphones",
        description="Voice lip sync tools. See docs/inputs.md, section Voice.",
    )
    commands = voice.add_subparsers(dest="voice_command", metavar="COMMAND")
    commands.required = True

    calibrate = commands.add_parser(
        "calibrate",
        help="make a voice profile (vowels and level range) from a take or the microphone",
        description="Make a voice profile for `listen --audio ... --voice-profile PROFILE.json`. From a WAV "
        "file: one take of a, i, u, e, o in that order, each held for about a second, with a pause of "
        "half a second or more between them. With --mic: prompts for a moment of silence and then "
        "each vowel in turn.",
    )
    calibrate.add_argument("file", nargs="?", help="a WAV take of a, i, u, e, o with pauses between them")
    calibrate.add_argument(
        "--mic",
        nargs="?",
        const="mic",
        metavar="DEVICE",
        help="record at the microphone instead (default input, or a device name or index)",
    )
    calibrate.add_argument("--out", required=True, metavar="PROFILE.json", help="where to write the profile")
    calibrate.set_defaults(handler=calibrate_command)

    devices = commands.add_parser(
        "devices", help="list audio input devices", description="List the audio input devices PortAudio sees."
    )
    devices.set_defaults(handler=devices_command)


def calibrate_command(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.mic is None):
        raise ValueError(
            "expected either a WAV take (voice calibrate FILE.wav) or --mic, not both or neither"
        )
    check_output_path(args.out)  # before the analysis or the prompted recording, which a bad path would waste
    if args.file is not None:
        samples, rate = read_wav(args.file)
        result = calibrate_take(samples, rate, source=f"voice calibrate {Path(args.file).name}")
    else:
        result = calibrate_mic(find_input_device(args.mic))
    try:
        save_profile(result.profile, args.out)
    except OSError as exc:
        raise RuntimeError(f"cannot write the voice profile to {args.out}: {exc.strerror or exc}") from None
    report(result, args.out, sys.stdout)
    return 0


def check_output_path(path: str) -> None:
    """Raise ValueError unless ``path`` can be written as a file (a directory, a missing folder, a
    read-only place are refused by name)."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"--out: expected a file to write the profile to, got the directory {path}")
    folder = target.parent
    if not folder.is_dir():
        raise ValueError(f"--out: expected a file in an existing folder, got {path} (no folder {folder})")
    if not os.access(target if target.exists() else folder, os.W_OK):
        raise ValueError(f"--out: expected a file you may write, got {path} (permission denied)")


Recorder = Callable[[InputDevice, float], tuple[np.ndarray, int]]


def calibrate_mic(
    device: InputDevice,
    *,
    record: Recorder = record_seconds,
    out: IO[str] | None = None,
    wait: Callable[[float], None] = time.sleep,
) -> CalibrationResult:
    """Prompt through silence and the five vowels at ``device``, then calibrate from the recordings."""
    out = out or sys.stdout
    say = lambda text: print(text, file=out, flush=True)  # noqa: E731
    say(f"Calibrating with {device.describe()}.")
    say(f"First, stay quiet for {SILENCE_S:g} seconds (this measures the room)...")
    silence, rate = record(device, SILENCE_S)
    takes: dict[str, np.ndarray] = {}
    for vowel in VOWELS:
        say(f"Say '{vowel}' ({KANA[vowel]}) steadily, as in singing, for {VOWEL_S - 0.5:g} seconds:")
        for count in range(COUNTDOWN_S, 0, -1):
            say(f"  {count}...")
            wait(1.0)
        say(f"  now: {vowel}-{vowel}-{vowel}")
        takes[vowel], rate = record(device, VOWEL_S)
    return calibrate_takes(silence, takes, rate, source=f"voice calibrate --mic {device.name}")


def report(result: CalibrationResult, path: str, out: IO[str]) -> None:
    profile = result.profile
    print(f"wrote {path}", file=out)
    for vowel in VOWELS:
        start, end = result.segments[vowel]
        share = result.self_check[vowel]
        print(
            f"  {vowel} ({KANA[vowel]}): {start:5.2f}–{end:5.2f} s, {share:.0%} of its frames recognised",
            file=out,
        )
    print(
        f"  level: silent below {profile.gate_db:.1f} dBFS (noise gate), full at {profile.full_db:.1f} dBFS",
        file=out,
    )
    for warning in result.warnings:
        print(f"WARNING: {warning}", file=out)


def devices_command(args: argparse.Namespace) -> int:
    devices = list_input_devices()
    if not devices:
        print("no audio input devices found", file=sys.stdout)
        return 1
    default = find_input_device("mic")
    for device in devices:
        mark = "*" if device.index == default.index else " "
        print(f"{mark} {device.describe()}, {device.max_input_channels} channels", file=sys.stdout)
    print("(* = the default input; use --audio NAME or --audio INDEX to pick another)", file=sys.stdout)
    return 0
