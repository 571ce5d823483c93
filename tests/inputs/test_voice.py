"""The voice source: frames from a WAV file, vowels of real (synthesized) speech, a microphone that
goes away (through a stand-in for sounddevice's stream), and the commands around it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from ezvtb_node.channels import VOICE_CHANNELS
from ezvtb_node.inputs.replay import TraceReplay
from ezvtb_node.inputs.voice.audio import AudioDeviceError, InputDevice, MicInput, write_wav
from ezvtb_node.inputs.voice.calibration import calibrate_take
from ezvtb_node.inputs.voice.commands import calibrate_mic
from ezvtb_node.inputs.voice.profile import VOWELS, load_profile, save_profile
from ezvtb_node.inputs.voice.source import VoiceSource, open_voice_source
from ezvtb_node.inputs.voice.synth import synthesize_vowel

from .conftest import wait_until
from .speech import needs_espeak, vowel_take

TIMEOUT = 30.0  # bounds a failure only: every wait below ends on an event


def play(path, profile=None, **options) -> list:
    frames: list = []
    source = open_voice_source(str(path), profile, on_frame=frames.append, **options)
    with source:
        assert source.wait_done(TIMEOUT)
    return frames


def vowel_votes(frames, span: tuple[float, float]) -> np.ndarray:
    """Mean vowel weights over the loud frames within a span of the audio."""
    loud = [f for f in frames if not f.lost and span[0] <= f.t <= span[1] and f.channels["voice.level"] > 0.3]
    assert len(loud) >= 10, f"too few loud frames in {span}"
    return np.mean([[f.channels[f"voice.{v}"] for v in VOWELS] for f in loud], axis=0)


def pause_frames(frames, take) -> list:
    """Frames well inside the pauses (0.25 s away from every sound)."""
    starts = [take.spans[v][0] for v in VOWELS]
    ends = [take.spans[v][1] for v in VOWELS]
    gaps = [(0.0, starts[0]), *zip(ends, starts[1:], strict=False), (ends[-1], take.samples.size / take.rate)]
    return [f for f in frames if not f.lost and any(a + 0.25 <= f.t <= b - 0.25 for a, b in gaps)]


# ------------------------------------------------------------------------------------- WAV files


def test_a_wav_file_gives_frames_with_the_audio_clock_and_ends_lost(tmp_path):
    rate = 16000
    path = tmp_path / "tone.wav"
    write_wav(path, synthesize_vowel("a", 150, 1.0, rate, 2.0), rate)
    frames = play(path)
    live = [f for f in frames if not f.lost]
    assert len(live) == 200  # 100 frames per second of audio
    assert [f.t for f in live] == pytest.approx([(i + 1) / 100 for i in range(200)])
    assert all(f.source == "voice" and tuple(f.channels) == VOICE_CHANNELS for f in live)
    assert frames[-1].lost and len(frames) == 201  # the end of the file, like the end of a replay
    assert all(0.0 <= value <= 1.0 for f in live for value in f.channels.values())


def test_a_longer_hop_still_gives_fifty_frames_a_second(tmp_path):
    path = tmp_path / "tone.wav"
    write_wav(path, synthesize_vowel("o", 150, 1.0, 44100, 1.0), 44100)
    live = [f for f in play(path, hop_ms=20) if not f.lost]
    assert len(live) == 50
    with pytest.raises(ValueError, match="at least 50 frames a second"):
        open_voice_source(str(path), hop_ms=25)


def test_realtime_pacing_can_be_stopped_at_once(tmp_path):
    path = tmp_path / "long.wav"
    write_wav(path, np.zeros(16000 * 60, np.float32), 16000)
    first = threading.Event()
    source = open_voice_source(str(path), realtime=True, on_frame=lambda f: first.set())
    source.start()
    assert first.wait(TIMEOUT)
    source.stop(timeout=TIMEOUT)
    assert not source.running and not source.wait_done(0)


# -------------------------------------------------------------------------------- real speech


@pytest.fixture(scope="module")
def takes(tmp_path_factory):
    if needs_espeak.args[0]:
        pytest.skip(needs_espeak.kwargs["reason"])
    folder = tmp_path_factory.mktemp("speech")
    calibration = vowel_take(folder, "calibration")
    # Another take: another pitch and another pace, as a second day at the microphone would be.
    other = vowel_take(folder, "other", pitch=30, speed=140)
    return calibration, other


@needs_espeak
def test_a_calibrated_profile_recognises_the_vowels_of_another_take(takes, tmp_path):
    calibration, other = takes
    result = calibrate_take(calibration.samples, calibration.rate)
    assert result.warnings == []
    profile = tmp_path / "profile.json"
    save_profile(result.profile, profile)
    frames = play(other.path, str(profile))
    recognised = {v: VOWELS[int(vowel_votes(frames, other.spans[v]).argmax())] for v in VOWELS}
    right = sum(recognised[v] == v for v in VOWELS)
    print(f"calibrated profile on another take: {right}/5 {recognised}")
    assert right >= 4, recognised


@needs_espeak
def test_a_pause_closes_the_mouth(takes, tmp_path):
    calibration, other = takes
    profile = calibrate_take(calibration.samples, calibration.rate).profile
    frames = play(other.path, profile)
    pauses = pause_frames(frames, other)
    assert len(pauses) >= 50  # six pauses, 0.1 s of each
    assert all(f.channels[name] == 0.0 for f in pauses for name in VOICE_CHANNELS)


@needs_espeak
def test_the_default_profile_opens_the_mouth_for_speech_and_closes_it_in_pauses(takes):
    _, other = takes
    frames = play(other.path)
    for vowel in VOWELS:
        start, end = other.spans[vowel]
        levels = [f.channels["voice.level"] for f in frames if start <= f.t <= end]
        assert max(levels) > 0.8, vowel
    assert all(f.channels["voice.level"] == 0.0 for f in pause_frames(frames, other))


@needs_espeak
def test_calibrate_command_writes_a_profile_and_listen_uses_it(takes, tmp_path):
    calibration, other = takes
    profile = tmp_path / "me.json"
    result = cli("voice", "calibrate", str(calibration.path), "--out", str(profile))
    assert result.returncode == 0, result.stderr
    assert f"wrote {profile}" in result.stdout and "noise gate" in result.stdout
    assert load_profile(profile).source == "voice calibrate calibration.wav"

    listened = cli("listen", "--audio", str(other.path), "--voice-profile", str(profile), "--json")
    assert listened.returncode == 0, listened.stderr
    lines = [json.loads(line) for line in listened.stdout.splitlines()]
    hop = round(other.rate / 100)  # 10 ms in whole samples (220 at 22,050 Hz)
    assert len(lines) == other.samples.size // hop
    expected_t = [(i + 1) * hop / other.rate for i in range(len(lines))]
    assert [line["t"] for line in lines] == pytest.approx(expected_t, abs=1e-6)  # rounded to µs
    assert {line["source"] for line in lines} == {"voice"}
    a_start, a_end = other.spans["a"]
    in_a = [line["channels"] for line in lines if a_start + 0.1 <= line["t"] <= a_end - 0.2]
    assert max(c["voice.a"] * c["voice.level"] for c in in_a) > 0.5


@needs_espeak
def test_mic_calibration_prompts_and_records_each_vowel(takes):
    calibration, _ = takes
    device = InputDevice(0, "stand-in microphone", "test", calibration.rate, 1)
    recorded: list[float] = []

    def record(_device, seconds):
        # Hand back the matching part of the espeak take for each prompt, in the prompts' order.
        recorded.append(seconds)
        if len(recorded) == 1:
            return np.zeros(int(seconds * calibration.rate), np.float32), calibration.rate
        start, end = calibration.spans[VOWELS[len(recorded) - 2]]
        a, b = int((start - 0.3) * calibration.rate), int((end + 0.3) * calibration.rate)
        return calibration.samples[a:b], calibration.rate

    out = _Capture()
    result = calibrate_mic(device, record=record, out=out, wait=lambda s: None)
    assert len(recorded) == 6
    assert "stay quiet" in out.text and "Say 'o' (お)" in out.text
    assert all(share >= 0.9 for share in result.self_check.values())


class _Capture:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


# ------------------------------------------------------------------------------------- commands


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ezvtb_node.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_record_of_a_wav_file_writes_a_trace_on_the_audio_clock(tmp_path):
    path = tmp_path / "tone.wav"
    write_wav(path, synthesize_vowel("e", 160, 1.0, 16000, 1.5), 16000)
    trace = tmp_path / "voice.jsonl"
    result = cli("record", str(trace), "--audio", str(path))
    assert result.returncode == 0, result.stderr
    assert "wrote 150 frames" in result.stderr
    frames = []
    with TraceReplay(trace, speed=float("inf"), on_frame=frames.append) as replay:
        assert replay.wait_done(TIMEOUT)
    live = [f for f in frames if not f.lost]
    assert len(live) == 150 and live[-1].t == pytest.approx(1.49)  # counted from the first frame


def test_bad_audio_arguments_are_one_clear_line(tmp_path):
    eight_bit = tmp_path / "old.wav"
    eight_bit.write_bytes(
        b"RIFF"
        + (36 + 4).to_bytes(4, "little")
        + b"WAVEfmt "
        + bytes.fromhex("1000000001000100803e0000803e000001000800")
        + b"data"
        + (4).to_bytes(4, "little")
        + b"\x80\x80\x80\x80"
    )
    result = cli("listen", "--audio", str(eight_bit), "--json")
    assert result.returncode == 1
    assert result.stderr.startswith("ezvtb-node listen: error: ") and "got 8-bit PCM" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli("listen", "--voice-profile", "p.json", "--json", "--duration", "0.1")
    assert result.returncode == 1 and "--voice-profile applies to a voice input" in result.stderr
    result = cli("voice", "calibrate", "--out", str(tmp_path / "p.json"))
    assert result.returncode == 1 and "expected either a WAV take" in result.stderr


# ----------------------------------------------------------------- a microphone that goes away


class FakeDevice:
    """A capture device that can be unplugged and plugged back in, shared by the streams opened on it."""

    def __init__(self, rate: int = 16000) -> None:
        self.rate = rate
        self.present = threading.Event()
        self.present.set()
        self.opened = 0
        # Speech, not a test tone: a vowel and a pause in turn (a tone that never stops is a hum to
        # the noise floor tracker, and the mouth stays shut).
        self.signal = np.concatenate(
            [synthesize_vowel("a", 150, 1.0, rate, 0.5), np.zeros(rate // 2, np.float32)]
        )


class FakeStream:
    """Stands in for sounddevice.InputStream in callback mode, as sounddevice 0.5 documents it.

    * ``start()`` makes PortAudio call ``callback(indata, frames, time, status)`` from another thread,
      ``indata`` shaped (frames, channels) float32;
    * when the device disappears PortAudio stops calling back and the stream becomes inactive, which
      calls ``finished_callback`` ("called when the stream becomes inactive"); we saw exactly this
      with a real PulseAudio source that was removed (tests/inputs/test_voice_live.py);
    * PortAudio calls that fail raise ``sounddevice.PortAudioError`` (sounddevice's ``_check``): here
      ``start()`` on an absent device, and ``close(ignore_errors=False)`` after it vanished.
    """

    def __init__(
        self, fake: FakeDevice, *, channels, samplerate, blocksize, callback, finished_callback, **_
    ):
        self.device, self.channels, self.blocksize = fake, channels, blocksize
        self.callback, self.finished_callback = callback, finished_callback
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.active = False

    def start(self) -> None:
        if not self.device.present.is_set():
            raise portaudio_error()("Error starting stream: Device unavailable [PaErrorCode -9985]")
        self.device.opened += 1
        self.active = True
        self._thread = threading.Thread(target=self._deliver, daemon=True)
        self._thread.start()

    def _deliver(self) -> None:
        position = 0
        signal = self.device.signal
        # Paced at the block duration so the test does not flood the queue; nothing waits on the pace.
        while not self._closed.wait(self.blocksize / self.device.rate):
            if not self.device.present.is_set():
                self.active = False
                self.finished_callback()
                return
            block = np.take(signal, np.arange(position, position + self.blocksize), mode="wrap")
            position += self.blocksize
            indata = np.repeat(block[:, None], self.channels, axis=1).astype(np.float32)
            self.callback(indata, self.blocksize, None, 0)

    def close(self, ignore_errors: bool = True) -> None:
        self._closed.set()
        self.active = False
        if not ignore_errors and not self.device.present.is_set():
            raise portaudio_error()("Error closing stream: Device unavailable")


def portaudio_error() -> type[Exception]:
    try:
        import sounddevice
    except (ImportError, OSError):
        return OSError
    return sounddevice.PortAudioError


class Events:
    """Frames as they come, with a condition to wait on (no sleeps)."""

    def __init__(self) -> None:
        self.frames: list = []
        self._changed = threading.Condition()

    def __call__(self, frame) -> None:
        with self._changed:
            self.frames.append(frame)
            self._changed.notify_all()

    def wait_for(self, predicate, start: int = 0) -> int:
        """Index of the first frame from ``start`` on that satisfies ``predicate``."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: (
                    next((i for i in range(start, len(self.frames)) if predicate(self.frames[i])), None)
                    is not None
                ),
                TIMEOUT,
            )
            assert found, "no such frame within the time limit"
            return next(i for i in range(start, len(self.frames)) if predicate(self.frames[i]))


def fake_source(device: FakeDevice, events: Events, **options) -> VoiceSource:
    mic = MicInput(
        InputDevice(3, "USB microphone", "test", device.rate, 2),
        stream_factory=lambda **kwargs: FakeStream(device, **kwargs),
    )
    return VoiceSource(mic, on_frame=events, **options)


def test_a_microphone_that_disappears_reports_lost_and_comes_back():
    device = FakeDevice()
    events = Events()
    source = fake_source(device, events, lost_after=0.3, reopen_interval=0.05)
    with source:
        speaking = events.wait_for(lambda f: not f.lost and f.channels["voice.level"] > 0.5)
        device.present.clear()  # unplugged
        lost = events.wait_for(lambda f: f.lost, speaking)
        assert (
            events.frames[lost].channels == events.frames[lost - 1].channels
        )  # the last values, marked lost
        assert wait_until(lambda: source.stats()["reopen_failures"] >= 2, TIMEOUT)
        assert source.running and source.error is None
        device.present.set()  # plugged back in
        events.wait_for(lambda f: not f.lost and f.channels["voice.level"] > 0.5, lost)
    stats = source.stats()
    assert stats["device_lost"] == 1 and stats["internal_errors"] == 0 and device.opened == 2
    assert not source.running


def test_a_microphone_that_stops_delivering_without_a_word_is_lost_then_reopened():
    device = FakeDevice()
    events = Events()
    source = fake_source(device, events, lost_after=0.2, stall_after=0.5, reopen_interval=0.05)
    with source:
        speaking = events.wait_for(lambda f: not f.lost)
        stream_hangs = threading.Event()
        original = FakeStream._deliver

        def hang(self):
            stream_hangs.wait(TIMEOUT)  # active, but no callbacks and no finished_callback

        FakeStream._deliver = hang
        try:
            source.audio._stream._closed.set()  # the running stream's delivery stops
            events.wait_for(lambda f: f.lost, speaking)
            assert wait_until(lambda: source.stats()["device_lost"] >= 1, TIMEOUT)
        finally:
            FakeStream._deliver = original
            stream_hangs.set()
        assert wait_until(lambda: device.opened >= 2, TIMEOUT)


def test_an_unknown_error_from_the_driver_does_not_end_the_source():
    device = FakeDevice()
    events = Events()
    source = fake_source(device, events, reopen_interval=0.05)
    with source:
        events.wait_for(lambda f: not f.lost)
        real_read = source.audio.read
        calls = {"n": 0}

        def broken_read(timeout):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("driver bug")
            return real_read(timeout)

        source.audio.read = broken_read
        start = len(events.frames)
        events.wait_for(lambda f: f.lost, start)
        events.wait_for(lambda f: not f.lost, start)
    assert source.error is None and source.stats()["device_lost"] == 1


def test_a_device_that_refuses_mono_is_opened_in_stereo_and_mixed_down():
    device = FakeDevice()
    events = Events()
    opened_with = []

    def factory(**kwargs):
        opened_with.append(kwargs["channels"])
        if kwargs["channels"] == 1:
            raise portaudio_error()(
                "Error opening InputStream: Invalid number of channels [PaErrorCode -9998]"
            )
        return FakeStream(device, **kwargs)

    mic = MicInput(InputDevice(3, "stereo only", "test", device.rate, 2), stream_factory=factory)
    source = VoiceSource(mic, on_frame=events)
    with source:
        events.wait_for(lambda f: not f.lost and f.channels["voice.level"] > 0.5)
    assert opened_with == [1, 2] and source.stats()["device_lost"] == 0


def test_a_device_that_cannot_be_opened_is_a_clear_error_from_start():
    device = FakeDevice()
    device.present.clear()
    mic = MicInput(
        InputDevice(3, "USB microphone", "test", device.rate, 1),
        stream_factory=lambda **kw: FakeStream(device, **kw),
    )
    source = VoiceSource(mic)
    with pytest.raises(
        AudioDeviceError, match=r"cannot open audio input \[3\] USB microphone .*Device unavailable"
    ):
        source.start()
    assert not source.running


# ------------------------------------------------------------------------ ends that must be clean


def test_listen_json_into_a_pipe_that_closes_ends_quietly_at_once(tmp_path):
    path = tmp_path / "long.wav"
    write_wav(path, np.tile(synthesize_vowel("a", 150, 1.0, 16000, 1.0), 600), 16000)  # ten minutes
    # `ezvtb-node listen --audio long.wav --json --realtime | head -1`: a real pipe, a reader that
    # takes one line and goes; paced like a microphone, the command would otherwise run ten minutes.
    listener = subprocess.Popen(
        [sys.executable, "-m", "ezvtb_node.cli", "listen", "--audio", str(path), "--json", "--realtime"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = listener.stdout.readline()
    listener.stdout.close()
    assert json.loads(first)["source"] == "voice"
    returncode = listener.wait(TIMEOUT)
    stderr = listener.stderr.read().decode()
    listener.stderr.close()
    assert returncode in (0, 141)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_calibrate_checks_out_before_reading_the_take(tmp_path):
    take = tmp_path / "not-even-read.wav"  # missing: were it read first, the error would be about it
    folder = tmp_path / "profiles"
    folder.mkdir()
    result = cli("voice", "calibrate", str(take), "--out", str(folder))
    assert result.returncode == 1
    expected = f"--out: expected a file to write the profile to, got the directory {folder}"
    assert result.stderr == f"ezvtb-node voice: error: {expected}\n"
    result = cli("voice", "calibrate", str(take), "--out", str(tmp_path / "nowhere" / "p.json"))
    assert result.returncode == 1 and f"no folder {tmp_path / 'nowhere'}" in result.stderr
    assert "Traceback" not in result.stderr


@needs_espeak
def test_a_profile_that_cannot_be_written_is_one_clear_line(takes):
    calibration, _ = takes
    result = cli("voice", "calibrate", str(calibration.path), "--out", "/dev/full")
    assert result.returncode == 1
    assert result.stderr == (
        "ezvtb-node voice: error: cannot write the voice profile to /dev/full: No space left on device\n"
    )


def test_record_into_a_directory_is_one_clear_line_before_listening(tmp_path):
    path = tmp_path / "tone.wav"
    write_wav(path, synthesize_vowel("e", 160, 1.0, 16000, 0.5), 16000)
    result = cli("record", str(tmp_path), "--audio", str(path))
    assert result.returncode == 1
    assert result.stderr == f"ezvtb-node record: error: cannot write {tmp_path}: Is a directory\n"


def test_record_onto_a_full_disk_is_one_clear_line(tmp_path):
    path = tmp_path / "tone.wav"
    write_wav(path, synthesize_vowel("e", 160, 1.0, 16000, 3.0), 16000)
    result = cli("record", "/dev/full", "--audio", str(path))
    assert result.returncode == 1
    assert (
        result.stderr.splitlines()[-1]
        == "ezvtb-node record: error: cannot write /dev/full: No space left on device"
    )
    assert "Traceback" not in result.stderr
