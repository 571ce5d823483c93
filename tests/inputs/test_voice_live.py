"""The live path through a real PortAudio capture device: a PulseAudio server started by the test.

The fixture starts its own PulseAudio daemon (private runtime folder, anonymous unix socket, no
D-Bus) with a null sink; the sink's monitor is the capture source, so `paplay` into the sink is
"someone speaking into the microphone". PortAudio (Debian's libportaudio2 has no PulseAudio host
API) reaches it through ALSA's "pulse" device from libasound2-plugins. Programs under test run in
subprocesses with PULSE_SERVER pointing at that daemon, so their PortAudio sees it from the start.
Skipped, naming the packages, where they are missing.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ezvtb_node.inputs.voice.calibration import calibrate_take
from ezvtb_node.inputs.voice.profile import VOWELS, save_profile

from .speech import needs_espeak, vowel_take

TIMEOUT = 60.0  # bounds a failure only
SINK = "ezvtb_voice_test"
PACKAGES = "pulseaudio pulseaudio-utils libasound2-plugins libportaudio2"


def _missing() -> str | None:
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    if (
        not Path("/usr/share/alsa/alsa.conf.d/pulse.conf").exists()
        and not Path("/etc/alsa/conf.d/99-pulse.conf").exists()
    ):
        return "ALSA's pulse plugin configuration not found"
    probe = subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True, text=True)
    if probe.returncode:
        return f"sounddevice/PortAudio not importable: {probe.stderr.strip().splitlines()[-1]}"
    return None


class Pulse:
    """A private PulseAudio daemon with one null sink; ``env`` reaches it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.chmod(0o700)
        socket = folder / "native"
        self.env = {
            **os.environ,
            "HOME": str(folder),
            "XDG_RUNTIME_DIR": str(folder),
            "PULSE_SERVER": f"unix:{socket}",
        }
        self.log = open(folder / "pulseaudio.log", "w")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [
                "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
                "--disable-shm=yes", "--log-target=stderr",
                "-L", f"module-native-protocol-unix auth-anonymous=1 socket={socket}",
            ],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + TIMEOUT
        while self.pactl("info", check=False).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = (folder / "pulseaudio.log").read_text(errors="replace")[-800:]
                pytest.skip(f"could not start a PulseAudio daemon here: {log}")
            time.sleep(0.05)  # polling the daemon's readiness; the deadline only bounds a failure
        self.add_sink()

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, text=True, timeout=TIMEOUT, check=check
        )

    def add_sink(self) -> None:
        self.sink_module = self.pactl(
            "load-module", "module-null-sink", f"sink_name={SINK}", "rate=48000"
        ).stdout.strip()
        self.pactl("set-default-sink", SINK)
        self.pactl("set-default-source", f"{SINK}.monitor")

    def remove_sink(self) -> None:
        self.pactl("unload-module", self.sink_module)

    def play(self, wav: Path) -> None:
        subprocess.run(["paplay", f"--device={SINK}", str(wav)], env=self.env, check=True, timeout=TIMEOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    missing = _missing()
    if missing:
        pytest.skip(f"needs Debian packages {PACKAGES}: {missing}")
    server = Pulse(tmp_path_factory.mktemp("pulse"))
    yield server
    server.stop()


class Lines:
    """A subprocess's stdout lines as JSON, read on a thread so the test can wait for one."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.queue: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith("{"):
                self.queue.put(json.loads(line))
        self.queue.put(None)

    def wait_for(self, predicate) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while True:
            item = self.queue.get(timeout=max(0.1, deadline - time.monotonic()))
            assert item is not None, f"the program ended first: {self.process.stderr.read()[-2000:]}"
            self.seen.append(item)
            if predicate(item):
                return item


def runs_of_sound(levels: list[float], silence_frames: int = 15) -> list[tuple[int, int]]:
    """(start, end) of stretches with sound, split where the level stays 0 for ``silence_frames``."""
    runs: list[list[int]] = []
    quiet = silence_frames
    for i, level in enumerate(levels):
        if level > 0.3:
            if quiet >= silence_frames or not runs:
                runs.append([i, i + 1])
            runs[-1][1] = i + 1
            quiet = 0
        elif level == 0.0:
            quiet += 1
    return [(a, b) for a, b in runs]


@needs_espeak
def test_listen_hears_vowels_played_into_a_pulseaudio_capture_device(pulse, tmp_path):
    take = vowel_take(tmp_path, "take")
    profile = tmp_path / "profile.json"
    save_profile(calibrate_take(take.samples, take.rate).profile, profile)
    listen = subprocess.Popen(
        [sys.executable, "-m", "ezvtb_node.cli", "listen", "--audio", "pulse",
         "--voice-profile", str(profile), "--json", "--duration", str(TIMEOUT)],
        env=pulse.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = Lines(listen)
        lines.wait_for(lambda line: True)  # the stream runs
        pulse.play(take.path)  # returns when the sink has played it all
        lines.wait_for(lambda line: line["channels"]["voice.level"] > 0.3)
        # Read on through the whole take (100 frames a second), then to half a second of silence.
        for _ in range(int((take.spans["o"][1] - take.spans["a"][0]) * 100)):
            lines.wait_for(lambda line: True)
        quiet = 0
        while quiet < 50:
            line = lines.wait_for(lambda line: True)
            quiet = quiet + 1 if line["channels"]["voice.level"] == 0.0 else 0
    finally:
        listen.terminate()
        listen.wait(TIMEOUT)
    frames = [line["channels"] for line in lines.seen]
    assert {line["source"] for line in lines.seen} == {"voice"}
    runs = runs_of_sound([c["voice.level"] for c in frames])
    assert len(runs) == 5, runs
    heard = [
        VOWELS[max(range(5), key=lambda k: sum(frames[i][f"voice.{VOWELS[k]}"] for i in range(a, b)))]
        for a, b in runs
    ]
    print(f"heard through PulseAudio: {heard}")
    assert sum(h == v for h, v in zip(heard, VOWELS, strict=True)) >= 4, heard


def test_a_capture_device_that_vanishes_is_lost_then_found_again(pulse, tmp_path):
    probe = subprocess.Popen(
        [sys.executable, "-m", "tests.inputs.voice_probe", "pulse"],
        env=pulse.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        lines = Lines(probe)
        lines.wait_for(lambda line: line.get("lost") is False)
        pulse.remove_sink()  # the capture source disappears under the running stream
        try:
            lines.wait_for(lambda line: line.get("lost") is True)
        finally:
            pulse.add_sink()
        lines.wait_for(lambda line: line.get("lost") is False)  # reopened on its own
        probe.stdin.close()
        result = lines.wait_for(lambda line: "stats" in line)
    finally:
        if probe.poll() is None:
            probe.stdin.close() if not probe.stdin.closed else None
            try:
                probe.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                probe.kill()
    assert probe.wait(TIMEOUT) == 0
    assert result["stats"]["device_lost"] >= 1 and result["stats"]["internal_errors"] == 0
    assert result["running_until_stop"] is True
