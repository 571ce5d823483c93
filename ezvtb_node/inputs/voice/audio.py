"""Audio in: WAV files (read and validated by our own RIFF parser) and PortAudio capture (sounddevice).

Both hand out mono float32 blocks in [-1, 1] together with the ``time.monotonic()`` at which the block
became available, through one small interface (:class:`AudioInput`), so the voice source does not
care where the sound comes from.

What a WAV file may hold (anything else is rejected by :func:`open_wav` with a message naming what
was expected and what the file holds, before any thread starts):

* PCM 16, 24 or 32 bit, or IEEE float 32 or 64 bit (also inside WAVE_FORMAT_EXTENSIBLE);
* any number of channels: they are averaged into one (mixed down);
* any sample rate from 16 kHz to 192 kHz, used as it is (the voice features are defined in Hz,
  so nothing is resampled); lower rates lose the upper formants and are rejected;
* 8-bit PCM is rejected: its noise floor (about -48 dBFS) sits where the noise gate works.

sounddevice (and the PortAudio library under it) is imported only when a microphone is used, so WAV
input works on a machine without PortAudio.
"""

from __future__ import annotations

import logging
import math
import queue
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ezvtb_node.install_hints import pip_install

log = logging.getLogger(__name__)

MIN_SAMPLE_RATE = 16_000
MAX_SAMPLE_RATE = 192_000
_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE
_FORMAT_NAMES = {0x0002: "MS ADPCM", 0x0006: "A-law", 0x0007: "µ-law", 0x0011: "IMA ADPCM", 0x0055: "MP3"}
_SUPPORTED = "16-, 24- or 32-bit PCM or 32/64-bit float samples"
_CONVERT_HINT = "convert it, e.g. `sox IN -b 16 OUT.wav` or `ffmpeg -i IN -c:a pcm_s16le OUT.wav`"
_READ_BLOCK_FRAMES = 4096


class AudioFormatError(ValueError):
    """A file that is not audio we can use; the message says what was expected and what came."""


class AudioDeviceError(RuntimeError):
    """A capture device that does not exist or cannot be opened, or PortAudio missing."""


class TruncatedWavWarning(UserWarning):
    """A WAV file shorter than its header says (a recording cut off): read as far as it goes."""


class DeviceLost(Exception):
    """The capture stream stopped delivering audio (device unplugged, server gone)."""


# --------------------------------------------------------------------------------------- WAV files


@dataclass(frozen=True)
class WavInfo:
    """What a WAV file's header says (after validation)."""

    path: Path
    sample_rate: int
    channels: int
    sample_format: str  # "pcm16", "pcm24", "pcm32", "float32", "float64"
    frames: int
    data_offset: int  # bytes from the start of the file to the first sample

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def bytes_per_frame(self) -> int:
        return self.channels * _SAMPLE_BYTES[self.sample_format]

    def describe(self) -> str:
        mix = "mono" if self.channels == 1 else f"{self.channels} channels mixed to mono"
        return f"{self.path.name}: {self.sample_rate} Hz, {self.sample_format}, {mix}, {self.duration:.2f} s"


_SAMPLE_BYTES = {"pcm16": 2, "pcm24": 3, "pcm32": 4, "float32": 4, "float64": 8}


def _what_is(head: bytes) -> str:
    """A short description of a file that is not a WAV, from its first bytes."""
    if not head:
        return "an empty file"
    for magic, name in (
        (b"fLaC", "a FLAC file"),
        (b"OggS", "an Ogg file"),
        (b"ID3", "an MP3 file"),
        (b"RF64", "an RF64 (64-bit WAV) file"),
        (b"RIFX", "a big-endian RIFX file"),
        (b"FORM", "an AIFF file"),
        (b"\x1aE\xdf\xa3", "a Matroska/WebM file"),
    ):
        if head.startswith(magic):
            return name
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "an MP4/M4A file"
    if head[:1] == b"\xff" and len(head) > 1 and head[1] & 0xE0 == 0xE0:
        return "an MP3/AAC stream"
    return f"a file starting with {head[:12]!r}"


def open_wav(path: str | Path) -> WavInfo:
    """Validate a WAV file's header and locate its samples; raises :class:`AudioFormatError`.

    Reads only the headers, so it is cheap on long files. Raises FileNotFoundError for a missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    size = path.stat().st_size
    with open(path, "rb") as file:
        head = file.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise AudioFormatError(f"{path}: expected a WAV file (RIFF/WAVE header), got {_what_is(head)}")
        fmt: bytes | None = None
        while True:
            chunk = file.read(8)
            if len(chunk) < 8:
                missing = "'fmt ' chunk" if fmt is None else "'data' chunk"
                raise AudioFormatError(f"{path}: expected a {missing} in the WAV file, got none")
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"fmt ":
                fmt = file.read(chunk_size)
                if len(fmt) < 16:
                    got = len(fmt)
                    raise AudioFormatError(f"{path}: expected a 16-byte or longer 'fmt ' chunk, got {got}")
                if chunk_size % 2:
                    file.read(1)
            elif chunk_id == b"data":
                if fmt is None:
                    raise AudioFormatError(f"{path}: expected 'fmt ' before 'data', got 'data' first")
                offset = file.tell()
                # Streamed files (written to a pipe) leave the size at 0 or 0xFFFFFFFF: use what is there.
                available = size - offset
                streamed = chunk_size in (0, 0xFFFFFFFF)
                data_size = available if streamed else min(chunk_size, available)
                info = _validate_format(path, fmt, data_size, offset)
                if not streamed and chunk_size > available:
                    declared = chunk_size // info.bytes_per_frame / info.sample_rate
                    warnings.warn(
                        f"{path}: truncated WAV file: its header promises {declared:.2f} s, the file holds "
                        f"{info.duration:.2f} s; reading those {info.duration:.2f} s",
                        TruncatedWavWarning,
                        stacklevel=2,
                    )
                return info
            else:
                file.seek(chunk_size + (chunk_size % 2), 1)


def _validate_format(path: Path, fmt: bytes, data_size: int, offset: int) -> WavInfo:
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE:
        if len(fmt) < 26:
            got = len(fmt)
            raise AudioFormatError(f"{path}: expected a 40-byte extensible 'fmt ' chunk, got {got} bytes")
        tag = struct.unpack("<H", fmt[24:26])[0]  # the first two bytes of the sub-format GUID
    if tag == _PCM and bits in (16, 24, 32):
        sample_format = f"pcm{bits}"
    elif tag == _FLOAT and bits in (32, 64):
        sample_format = f"float{bits}"
    elif tag == _PCM and bits == 8:
        raise AudioFormatError(
            f"{path}: expected {_SUPPORTED}, got 8-bit PCM (its noise floor sits at the noise gate); "
            + _CONVERT_HINT
        )
    else:
        kind = {_PCM: "PCM", _FLOAT: "float"}.get(tag) or _FORMAT_NAMES.get(tag, f"format 0x{tag:04x}")
        raise AudioFormatError(f"{path}: expected {_SUPPORTED}, got {bits}-bit {kind}; {_CONVERT_HINT}")
    if channels < 1:
        raise AudioFormatError(f"{path}: expected 1 or more channels, got {channels}")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioFormatError(
            f"{path}: expected a sample rate from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, got {rate} Hz "
            f"(vowels need frequencies up to 5 kHz); resample it, e.g. `sox IN -r 16000 OUT.wav`"
        )
    frame_bytes = channels * _SAMPLE_BYTES[sample_format]
    if block_align != frame_bytes:
        raise AudioFormatError(
            f"{path}: expected a block align of {frame_bytes} bytes for {channels} × {bits}-bit, "
            f"got {block_align}"
        )
    frames = data_size // frame_bytes
    if frames == 0:
        raise AudioFormatError(f"{path}: expected audio samples, got an empty 'data' chunk (0 frames)")
    return WavInfo(path, rate, channels, sample_format, frames, offset)


def _decode(raw: bytes, info: WavInfo) -> np.ndarray:
    """Interleaved sample bytes → mono float32 in [-1, 1] (channels averaged)."""
    fmt = info.sample_format
    if fmt == "pcm16":
        samples = np.frombuffer(raw, "<i2").astype(np.float32) * (1.0 / 32768.0)
    elif fmt == "pcm24":
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints & 0x800000, ints - 0x1000000, ints)
        samples = ints.astype(np.float32) * (1.0 / 8388608.0)
    elif fmt == "pcm32":
        samples = (np.frombuffer(raw, "<i4").astype(np.float64) * (1.0 / 2147483648.0)).astype(np.float32)
    elif fmt == "float32":
        samples = np.frombuffer(raw, "<f4").astype(np.float32)
    else:
        samples = np.frombuffer(raw, "<f8").astype(np.float32)
    if info.channels > 1:
        samples = samples.reshape(-1, info.channels).mean(axis=1, dtype=np.float32)
    # A float file may hold NaN or values past full scale: neither may reach the features.
    return np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)


def iter_wav_blocks(info: WavInfo, frames_per_block: int = _READ_BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """Mono float32 blocks of a validated WAV file, in order (the last one may be shorter)."""
    remaining = info.frames
    with open(info.path, "rb") as file:
        file.seek(info.data_offset)
        while remaining > 0:
            count = min(frames_per_block, remaining)
            raw = file.read(count * info.bytes_per_frame)
            count = len(raw) // info.bytes_per_frame
            if count == 0:
                return  # the file shrank since it was opened
            yield _decode(raw[: count * info.bytes_per_frame], info)
            remaining -= count


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """The whole file as mono float32 samples and its sample rate (validated as :func:`open_wav`)."""
    info = open_wav(path)
    blocks = list(iter_wav_blocks(info, 1 << 16))
    return np.concatenate(blocks), info.sample_rate


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono float samples as a 16-bit PCM WAV (calibration takes, tests)."""
    ints = (np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0) * 32767.0).round().astype("<i2")
    data = ints.tobytes()
    with open(path, "wb") as file:
        file.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE")
        file.write(b"fmt " + struct.pack("<IHHIIHH", 16, _PCM, 1, sample_rate, sample_rate * 2, 2, 16))
        file.write(b"data" + struct.pack("<I", len(data)) + data)


# --------------------------------------------------------------------------------- the interface


class AudioInput(Protocol):
    """Where the voice source gets its audio from; every method is called on the source's thread."""

    sample_rate: int

    def describe(self) -> str: ...

    def open(self) -> None: ...

    def read(self, timeout: float) -> tuple[np.ndarray, float] | None:
        """The next mono float32 block and the monotonic time it became available.

        None when nothing came within ``timeout`` seconds; raises StopIteration at the end of a file
        and :class:`DeviceLost` when a capture device stopped delivering.
        """
        ...

    def close(self) -> None: ...


class WavInput:
    """A WAV file as an :class:`AudioInput`: as fast as it decodes, or paced like a live microphone.

    ``realtime=True`` hands out each block when its last sample would have been captured live
    (``wake`` is the event that interrupts that wait when the source stops).
    """

    def __init__(self, path: str | Path, *, realtime: bool = False, block_frames: int | None = None) -> None:
        self.info = open_wav(path)
        self.sample_rate = self.info.sample_rate
        self.realtime = realtime
        # 10 ms blocks like a capture device: the analysis hop decides the frame rate anyway.
        self._block_frames = block_frames or max(1, self.sample_rate // 100)
        self._blocks: Iterator[np.ndarray] | None = None
        self._started = 0.0
        self._frames_out = 0
        self.wake = threading.Event()

    def describe(self) -> str:
        return str(self.info.path)

    def open(self) -> None:
        with warnings.catch_warnings():  # a truncated file was reported when it was validated
            warnings.simplefilter("ignore", TruncatedWavWarning)
            self.info = open_wav(self.info.path)  # the file may have changed since it was validated
        self._blocks = iter_wav_blocks(self.info, self._block_frames)
        self._started = time.monotonic()
        self._frames_out = 0

    def read(self, timeout: float) -> tuple[np.ndarray, float] | None:
        assert self._blocks is not None, "open() first"
        block = next(self._blocks)  # StopIteration at the end
        self._frames_out += len(block)
        if self.realtime:
            due = self._started + self._frames_out / self.sample_rate
            delay = due - time.monotonic()
            if delay > 0 and self.wake.wait(delay):
                raise StopIteration
        return block, time.monotonic()

    def close(self) -> None:
        self._blocks = None


# ------------------------------------------------------------------------------- PortAudio capture


def import_sounddevice() -> Any:
    """The sounddevice module, or :class:`AudioDeviceError` saying what to install."""
    try:
        import sounddevice
    except ImportError:
        raise AudioDeviceError(
            f"microphone input needs the Python package sounddevice ({pip_install('sounddevice')})"
        ) from None
    except OSError as exc:  # the module loads the PortAudio library when imported
        raise AudioDeviceError(
            f"microphone input needs the PortAudio library ({exc}); "
            "on Debian/Ubuntu: apt install libportaudio2"
        ) from None
    return sounddevice


@dataclass(frozen=True)
class InputDevice:
    """A PortAudio capture device, as found by :func:`find_input_device`."""

    index: int
    name: str
    hostapi: str
    default_samplerate: int
    max_input_channels: int

    def describe(self) -> str:
        return f"[{self.index}] {self.name} ({self.hostapi}, {self.default_samplerate} Hz)"


def list_input_devices(sd: Any = None) -> list[InputDevice]:
    """Every device with input channels, in PortAudio's order."""
    sd = sd or import_sounddevice()
    hostapis = sd.query_hostapis()
    return [_device(sd, info, hostapis) for info in sd.query_devices() if info["max_input_channels"] > 0]


def _device(sd: Any, info: dict, hostapis: Any) -> InputDevice:
    return InputDevice(
        index=int(info["index"]),
        name=str(info["name"]),
        hostapi=str(hostapis[info["hostapi"]]["name"]),
        default_samplerate=round(info["default_samplerate"]),
        max_input_channels=int(info["max_input_channels"]),
    )


def find_input_device(spec: str | int | None, sd: Any = None) -> InputDevice:
    """The capture device for ``spec``: None or "mic"/"default" = the default input, an index, or a name.

    A name matches as sounddevice matches it (case-insensitive substrings, e.g. "USB" or "Yeti").
    Raises :class:`AudioDeviceError` listing the input devices when nothing (or more than one) matches.
    """
    sd = sd or import_sounddevice()
    devices = list_input_devices(sd)
    listing = "; ".join(device.describe() for device in devices) or "none"
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "mic", "default")):
        try:
            info = sd.query_devices(kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            raise AudioDeviceError(f"no default audio input ({exc}); input devices: {listing}") from None
        return _device(sd, info, sd.query_hostapis())
    query: str | int = int(spec) if isinstance(spec, str) and spec.strip().isdigit() else spec
    try:
        info = sd.query_devices(query, kind="input")
    except (ValueError, sd.PortAudioError) as exc:
        reason = str(exc).splitlines()[0]
        raise AudioDeviceError(
            f"expected an audio input device (name, index or 'mic'), got {spec!r}: {reason}. "
            f"Input devices: {listing}"
        ) from None
    if info["max_input_channels"] < 1:
        raise AudioDeviceError(
            f"expected an audio input device, got {spec!r}: '{info['name']}' has no input channels. "
            f"Input devices: {listing}"
        )
    return _device(sd, info, sd.query_hostapis())


StreamFactory = Callable[..., Any]


class MicInput:
    """A PortAudio capture device as an :class:`AudioInput` (sounddevice's callback mode).

    PortAudio calls our callback on its own real-time thread with each block; the callback only
    copies the block into a bounded queue (no allocation beyond the copy, no locks held long), and
    the voice source's thread takes blocks from there. Callback mode, not blocking ``read()``:
    when a device goes away PortAudio stops calling back and calls ``finished_callback``
    (sounddevice documents both: callbacks run "until stop(), abort() or close()", and
    finished_callback is "called when the stream becomes inactive"), and a device that simply stops
    delivering is noticed by a timeout — a blocking read could wait forever.

    ``stream_factory`` builds the stream with sounddevice.InputStream's keyword arguments (tests
    pass a fake). ``queue_blocks`` bounds the backlog: when the source's thread falls behind, the
    newest block is dropped and counted rather than queueing stale audio.
    """

    def __init__(
        self,
        device: InputDevice,
        *,
        block_ms: float = 10.0,
        sample_rate: int | None = None,
        stream_factory: StreamFactory | None = None,
        queue_blocks: int = 32,
    ) -> None:
        self.device = device
        self.sample_rate = int(sample_rate or device.default_samplerate)
        if not MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE:
            raise AudioDeviceError(
                f"expected a capture rate from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, "
                f"got {self.sample_rate} Hz for {device.describe()}"
            )
        self.block_frames = max(1, round(self.sample_rate * block_ms / 1000.0))
        self._factory = stream_factory
        self._queue: queue.Queue[tuple[np.ndarray, float]] = queue.Queue(maxsize=queue_blocks)
        self._stream: Any = None
        self._finished = threading.Event()
        self.overflows = 0  # blocks PortAudio or our queue had to drop
        self.dropped = 0

    def describe(self) -> str:
        return self.device.describe()

    @property
    def latency(self) -> float | None:
        """The input latency PortAudio reports for the open stream (seconds), if any."""
        latency = getattr(self._stream, "latency", None)
        return float(latency) if isinstance(latency, int | float) else None

    def open(self) -> None:
        """Open and start the stream; :class:`AudioDeviceError` when PortAudio refuses."""
        factory = self._factory or import_sounddevice().InputStream
        errors = _portaudio_errors()
        self._drain()
        stream = None
        last_error: BaseException | None = None
        # Mono first; some devices only open with their own channel count (mixed down in the callback).
        for channels in dict.fromkeys((1, min(2, self.device.max_input_channels))):
            # One event per stream: a failed attempt that finishes as it closes must not mark the next.
            finished = threading.Event()
            try:
                stream = factory(
                    device=self.device.index,
                    channels=channels,
                    samplerate=self.sample_rate,
                    blocksize=self.block_frames,
                    dtype="float32",
                    latency="low",
                    callback=self._callback,
                    finished_callback=finished.set,
                )
                stream.start()
                break
            except errors as exc:
                last_error = exc
                self._close_quietly(stream)
                stream = None
        if stream is None:
            raise AudioDeviceError(f"cannot open audio input {self.device.describe()}: {last_error}")
        self._stream = stream
        self._finished = finished

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's thread: copy and hand over, nothing else.
        arrived = time.monotonic()
        if status:
            self.overflows += 1
        block = indata[:, 0].copy() if indata.shape[1] == 1 else indata.mean(axis=1, dtype=np.float32)
        try:
            self._queue.put_nowait((block, arrived))
        except queue.Full:
            self.dropped += 1

    def read(self, timeout: float) -> tuple[np.ndarray, float] | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            pass
        if self._finished.is_set() or (self._stream is not None and not _is_active(self._stream)):
            raise DeviceLost(f"audio input {self.device.describe()} stopped delivering")
        return None

    def close(self) -> None:
        stream, self._stream = self._stream, None
        self._close_quietly(stream)
        self._drain()

    @staticmethod
    def _close_quietly(stream: Any) -> None:
        # Closing a stream whose device vanished raises PortAudioError on some host APIs; it is
        # closed as far as we are concerned.
        if stream is None:
            return
        try:
            stream.close(ignore_errors=True)
        except TypeError:
            try:
                stream.close()
            except Exception as exc:
                log.debug("closing the audio stream failed: %s", exc)
        except Exception as exc:
            log.debug("closing the audio stream failed: %s", exc)

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


def _portaudio_errors() -> tuple[type[BaseException], ...]:
    """What opening a stream raises when the device is unusable (sounddevice.PortAudioError and kin)."""
    try:
        return (import_sounddevice().PortAudioError, OSError, ValueError)
    except AudioDeviceError:
        return (OSError, ValueError)


def _is_active(stream: Any) -> bool:
    try:
        return bool(stream.active)
    except Exception:
        return False


def record_seconds(
    device: InputDevice, seconds: float, *, stream_factory: StreamFactory | None = None
) -> tuple[np.ndarray, int]:
    """Record ``seconds`` of mono audio from ``device`` (calibration); returns samples and rate."""
    blocks_needed = math.ceil(seconds * 50) + 50
    mic = MicInput(device, block_ms=20.0, stream_factory=stream_factory, queue_blocks=blocks_needed)
    need = round(seconds * mic.sample_rate)
    blocks: list[np.ndarray] = []
    got = 0
    mic.open()
    try:
        deadline = time.monotonic() + seconds + 5.0
        while got < need:
            if time.monotonic() > deadline:
                delivered = got / mic.sample_rate
                raise AudioDeviceError(
                    f"audio input {device.describe()} delivered {delivered:.1f} s of {seconds:.1f} s"
                )
            item = mic.read(0.5)
            if item is not None:
                blocks.append(item[0])
                got += len(item[0])
    except DeviceLost as exc:
        raise AudioDeviceError(str(exc)) from None
    finally:
        mic.close()
    return np.concatenate(blocks)[:need], mic.sample_rate
