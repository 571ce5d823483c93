"""WAV reading and validation, and the errors for bad audio input (before any thread starts)."""

import struct
import threading
import warnings

import numpy as np
import pytest

from ezvtb_node.inputs.voice.audio import (
    AudioDeviceError,
    AudioFormatError,
    TruncatedWavWarning,
    WavInput,
    find_input_device,
    open_wav,
    read_wav,
    write_wav,
)
from ezvtb_node.inputs.voice.profile import ProfileError
from ezvtb_node.inputs.voice.source import open_voice_source


def wav_bytes(
    data: bytes,
    *,
    tag: int = 1,
    channels: int = 1,
    rate: int = 16000,
    bits: int = 16,
    extensible: bool = False,
) -> bytes:
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * align, align, bits)
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + guid_tail
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 4) + b"INFO"  # an unrelated chunk before the samples
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tone(n: int = 1600, rate: int = 16000) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)


def test_sixteen_bit_mono_round_trips(tmp_path):
    path = tmp_path / "tone.wav"
    write_wav(path, tone(), 16000)
    samples, rate = read_wav(path)
    assert rate == 16000 and samples.dtype == np.float32
    assert np.abs(samples - tone()).max() < 1e-4


@pytest.mark.parametrize(
    ("bits", "tag", "encode"),
    [
        (24, 1, lambda x: b"".join(int(v).to_bytes(3, "little", signed=True) for v in np.round(x * 8388607))),
        (32, 1, lambda x: np.round(x * 2147483647).astype("<i4").tobytes()),
        (32, 3, lambda x: x.astype("<f4").tobytes()),
        (64, 3, lambda x: x.astype("<f8").tobytes()),
    ],
)
@pytest.mark.parametrize("extensible", [False, True])
def test_other_sample_formats_read_the_same_samples(tmp_path, bits, tag, encode, extensible):
    path = tmp_path / "x.wav"
    path.write_bytes(wav_bytes(encode(tone()), tag=tag, bits=bits, extensible=extensible))
    samples, _ = read_wav(path)
    assert np.abs(samples - tone()).max() < 1e-4


def test_stereo_is_mixed_down_to_mono(tmp_path):
    left, right = tone(), np.zeros(1600, np.float32)
    interleaved = np.round(np.stack([left, right], axis=1) * 32767).astype("<i2").tobytes()
    path = tmp_path / "stereo.wav"
    path.write_bytes(wav_bytes(interleaved, channels=2))
    samples, _ = read_wav(path)
    assert len(samples) == 1600
    assert np.abs(samples - tone() / 2).max() < 1e-3
    assert "2 channels mixed to mono" in open_wav(path).describe()


def test_a_streamed_wav_without_a_data_size_reads_to_the_end(tmp_path):
    raw = bytearray(wav_bytes(np.round(tone() * 32767).astype("<i2").tobytes()))
    data_at = raw.index(b"data") + 4
    raw[data_at : data_at + 4] = b"\xff\xff\xff\xff"
    path = tmp_path / "streamed.wav"
    path.write_bytes(bytes(raw))
    assert open_wav(path).frames == 1600


def test_a_truncated_wav_is_read_as_far_as_it_goes_with_a_warning_naming_the_seconds(tmp_path):
    whole = wav_bytes(np.round(tone(16000) * 32767).astype("<i2").tobytes())  # 1 s promised
    path = tmp_path / "cut.wav"
    path.write_bytes(whole[: len(whole) - 2 * 6000])  # the last 0.375 s never written
    with pytest.warns(TruncatedWavWarning) as caught:
        samples, rate = read_wav(path)
    assert len(samples) == 10000 and rate == 16000
    message = str(caught[0].message)
    assert str(path) in message
    assert "promises 1.00 s, the file holds 0.62 s; reading those 0.62 s" in message


def test_a_whole_wav_gives_no_truncation_warning(tmp_path):
    path = tmp_path / "whole.wav"
    write_wav(path, tone(), 16000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_wav(path).frames == 1600


def test_a_wav_shorter_than_one_analysis_hop_says_so(tmp_path):
    path = tmp_path / "blip.wav"
    write_wav(path, tone(100), 16000)
    with pytest.raises(AudioFormatError) as caught:
        open_voice_source(str(path))
    message = str(caught.value)
    assert str(path) in message
    assert (
        "expected at least one analysis hop of audio (10 ms, 160 frames), got 100 frames (6.2 ms)" in message
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            wav_bytes(b"\x80" * 100, bits=8),
            "expected 16-, 24- or 32-bit PCM or 32/64-bit float samples, got 8-bit PCM",
        ),
        (wav_bytes(b"\x00" * 100, tag=2, bits=4), "got 4-bit MS ADPCM"),
        (wav_bytes(b"\x00" * 3200, rate=8000), "expected a sample rate from 16000 to 192000 Hz, got 8000 Hz"),
        (wav_bytes(b""), "expected audio samples, got an empty 'data' chunk (0 frames)"),
        (b"", "expected a WAV file (RIFF/WAVE header), got an empty file"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00", "got an MP3 file"),
        (b"fLaC" + b"\x00" * 40, "got a FLAC file"),
        (b"hello, this is text\n", "got a file starting with b'hello, this '"),
        (wav_bytes(b"\x00" * 10)[:36], "expected a 'data' chunk in the WAV file, got none"),
    ],
    ids=["8-bit", "adpcm", "8kHz", "empty-data", "empty-file", "mp3", "flac", "text", "truncated"],
)
def test_bad_files_say_what_was_expected_and_what_came(tmp_path, content, expected):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFormatError) as caught:
        open_wav(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="audio file not found"):
        WavInput(tmp_path / "nope.wav")


def test_open_voice_source_rejects_bad_input_before_any_thread_starts(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(wav_bytes(b"\x80" * 100, bits=8))
    good = tmp_path / "good.wav"
    write_wav(good, tone(), 16000)
    broken_profile = tmp_path / "profile.json"
    broken_profile.write_text('{"format": "ezvtb-voice-profile", "version": 1}', encoding="utf-8")
    before = threading.active_count()
    with pytest.raises(AudioFormatError, match="8-bit PCM"):
        open_voice_source(str(bad))
    with pytest.raises(ProfileError, match='expected "features"'):
        open_voice_source(str(good), str(broken_profile))
    with pytest.raises(FileNotFoundError, match="voice profile not found"):
        open_voice_source(str(good), str(tmp_path / "missing.json"))
    source = open_voice_source(str(good))
    assert not source.running
    assert threading.active_count() == before


def test_a_device_that_does_not_exist_is_named_with_the_devices_there_are():
    try:
        import sounddevice  # noqa: F401  (only to skip where PortAudio is missing)
    except (ImportError, OSError) as exc:
        pytest.skip(f"needs sounddevice and the PortAudio library (Debian package libportaudio2): {exc}")
    with pytest.raises(AudioDeviceError) as caught:
        find_input_device("no such microphone 1234")
    message = str(caught.value)
    assert "expected an audio input device (name, index or 'mic'), got 'no such microphone 1234'" in message
    assert "Input devices:" in message
    with pytest.raises(AudioDeviceError, match="got '999'"):
        find_input_device("999")
