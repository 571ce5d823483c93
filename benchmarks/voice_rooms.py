"""Voice in real rooms (issue 19): vowels and pauses of espeak-ng voices, clean and in noise.

    .venv/bin/python benchmarks/voice_rooms.py [--voices N] [--jobs 2]

Makes its own data: espeak-ng's Japanese voice with its variants (``-v ja+VARIANT``), each at five
pitch/speed pairs, speaking あー いー うー えー おー one at a time (so every vowel's time is known),
joined by 0.6 s pauses; and twelve words, spoken through libespeak-ng (ctypes), whose vowels are
placed by espeak-ng's own phoneme events. Noise is mixed with numpy at a set SNR (against the mean
power of the vowels): white, pink (1/f) and music-like (chords of harmonic tones that change every
0.3 s).
Nothing here was tuned on the HELD_OUT voices; TUNING are the ones looked at while choosing the
noise tracker's and the built-in profile's constants.

Scores, per take of the five vowels: a vowel is right when its loud frames' mean weights pick it;
pause frames are those 0.25 s or more from any sound; level 0 there is what the mouth should do.
Prints tables in the form of docs/inputs.md (Voice, "Measured"), the CPU and the analysis cost.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import functools
import itertools
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ezvtb_node.inputs.voice.analyzer import VoiceAnalyzer
from ezvtb_node.inputs.voice.audio import read_wav
from ezvtb_node.inputs.voice.calibration import CalibrationError, calibrate_take
from ezvtb_node.inputs.voice.profile import VOWELS, VoiceProfile
from ezvtb_node.inputs.voice.synth import default_profile

TUNING = ("m3", "f2", "klatt")
HELD_OUT = ("m1", "m2", "m4", "m5", "m6", "m7", "f1", "f3", "f4", "f5", "klatt2")
# (pitch 0-99, speed in words per minute): the first is where a profile is calibrated.
PITCH_SPEED = ((50, 150), (25, 120), (75, 180), (40, 210), (65, 130))
KANA = {"a": "あー", "i": "いー", "u": "うー", "e": "えー", "o": "おー"}
PAUSE_S = 0.6
NOISES = ("white", "pink", "music")
WORDS = (
    "あおいうみ",
    "えいがをみる",
    "さくらのはな",
    "ありがとう",
    "おはようございます",
    "きれいなうた",
    "ゆめをみた",
    "あたらしいいえ",
    "くものうえ",
    "いもうとのへや",
    "せかいのおわり",
    "むかしむかし",
)
WRONG_ORDERS = ("aeiou", "iaueo", "oeuia", "aiuoe")


@dataclass
class Take:
    voice: str
    pitch: int
    speed: int
    samples: np.ndarray
    rate: int
    spans: dict[str, tuple[float, float]]


def speak_take(voice: str, pitch: int, speed: int, folder: Path) -> Take:
    parts, spans, position, rate = [], {}, 0, 16000
    for vowel in VOWELS:
        path = folder / f"{voice}-{pitch}-{speed}-{vowel}.wav"
        subprocess.run(
            [
                "espeak-ng",
                "-v",
                f"ja+{voice}",
                "-p",
                str(pitch),
                "-s",
                str(speed),
                "-w",
                str(path),
                KANA[vowel],
            ],
            check=True,
            capture_output=True,
        )
        samples, rate = read_wav(path)
        loud = np.flatnonzero(np.abs(samples) > 0.01)  # espeak pads its files with silence: trim it
        samples = samples[loud[0] : loud[-1] + 1]
        pause = np.zeros(int(rate * PAUSE_S), np.float32)
        parts += [pause, samples]
        spans[vowel] = ((position + len(pause)) / rate, (position + len(pause) + len(samples)) / rate)
        position += len(pause) + len(samples)
    parts.append(np.zeros(int(rate * PAUSE_S), np.float32))
    return Take(voice, pitch, speed, np.concatenate(parts), rate, spans)


class _EventId(ctypes.Union):
    _fields_ = (("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8))


class _Event(ctypes.Structure):
    # espeak_EVENT of espeak-ng's src/include/espeak-ng/speak_lib.h
    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    )


_EVENT_PHONEME = 7  # espeakEVENT_PHONEME
_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS
_PHONEME_EVENTS = 1  # espeakINITIALIZE_PHONEME_EVENTS
_RATE, _PITCH = 1, 3  # espeak_PARAMETER
_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class PhonemeSpeaker:
    """libespeak-ng through ctypes: speech and the sample where each phoneme starts (its own events)."""

    def __init__(self) -> None:
        self._lib = ctypes.CDLL(ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1")
        self.rate = self._lib.espeak_Initialize(_SYNCHRONOUS, 0, None, _PHONEME_EVENTS)
        self._chunks: list[np.ndarray] = []
        self._phonemes: list[tuple[str, int]] = []
        self._callback = _Callback(self._collect)  # kept: the library holds only a pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int]
        self._lib.espeak_Synth.argtypes += [ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]

    def _collect(self, wav, count, events) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (count,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != 0:
            if events[i].type == _EVENT_PHONEME:
                self._phonemes.append((events[i].id.string.decode(errors="replace"), events[i].sample))
            i += 1
        return 0

    def say(self, text: str, voice: str, pitch: int, speed: int) -> tuple[np.ndarray, list[tuple[str, int]]]:
        self._chunks, self._phonemes = [], []
        self._lib.espeak_SetVoiceByName(f"ja+{voice}".encode())
        self._lib.espeak_SetParameter(_RATE, speed, 0)
        self._lib.espeak_SetParameter(_PITCH, pitch, 0)
        data = text.encode()
        self._lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None)  # POS_CHARACTER, UTF-8
        return np.concatenate(self._chunks), self._phonemes


@functools.lru_cache(maxsize=1)
def phoneme_speaker() -> PhonemeSpeaker:
    """One per process: espeak-ng is initialised once."""
    return PhonemeSpeaker()


def word_vowels_right(speaker: PhonemeSpeaker, voice: str, profile: VoiceProfile) -> list[bool]:
    """Every vowel of WORDS at every pitch/speed: whether its frames pick it (a pause before each)."""
    right = []
    for pitch, speed in PITCH_SPEED:
        for text in WORDS:
            samples, phonemes = speaker.say(text, voice, pitch, speed)
            lead = int(PAUSE_S * speaker.rate)
            t, level, weights = analyse(
                np.concatenate([np.zeros(lead, np.float32), samples]), speaker.rate, profile
            )
            ends = [sample for _, sample in phonemes[1:]] + [len(samples)]
            for (name, start), end in zip(phonemes, ends, strict=True):
                vowel = name.rstrip(":")
                if vowel not in VOWELS:
                    continue
                a, b = (lead + start) / speaker.rate, (lead + end) / speaker.rate
                frames = (t >= a + 0.02) & (t <= b + 0.01) & (level > 0)
                right.append(
                    bool(frames.any()) and VOWELS[int(np.argmax(weights[frames].mean(axis=0)))] == vowel
                )
    return right


def noise(kind: str, n: int, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "white":
        return rng.normal(0.0, 1.0, n)
    if kind == "pink":
        spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n))
        spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
        spectrum[0] = 0.0
        return np.fft.irfft(spectrum, n)
    # music-like: three-note chords of harmonic tones, a new chord every 0.3 s, with a soft attack
    out = np.zeros(n)
    step = int(0.3 * rate)
    t = np.arange(step) / rate
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-t / 0.5)
    for start in range(0, n, step):
        chord = 110.0 * 2 ** (rng.integers(0, 24, 3) / 12.0)
        tone = sum(np.sin(2 * np.pi * f * h * t) / h for f in chord for h in range(1, 6))
        out[start : start + step] = (tone * envelope)[: n - start]
    return out


def mix(take: Take, kind: str, snr_db: float, seed: int = 0) -> np.ndarray:
    voiced = np.concatenate(
        [take.samples[int(a * take.rate) : int(b * take.rate)] for a, b in take.spans.values()]
    )
    speech_power = float(np.mean(voiced.astype(np.float64) ** 2))
    room = noise(kind, take.samples.size, take.rate, seed)
    room *= np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(room**2))
    return (take.samples + room).astype(np.float32)


def analyse(
    samples: np.ndarray, rate: int, profile: VoiceProfile
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (n,), levels (n,) and weights (n, 5) of every 10 ms hop."""
    readings = VoiceAnalyzer(rate, profile).feed(samples)
    return (
        np.array([r.t for r in readings]),
        np.array([r.level for r in readings]),
        np.array([r.weights for r in readings]),
    )


@dataclass
class Score:
    right: dict[str, bool]
    pause_closed: float  # share of pause frames at level 0
    pause_level: float  # mean level in the pauses

    @property
    def correct(self) -> int:
        return sum(self.right.values())


def score(take: Take, samples: np.ndarray, profile: VoiceProfile) -> Score:
    t, level, weights = analyse(samples, take.rate, profile)
    right = {}
    for i, vowel in enumerate(VOWELS):
        start, end = take.spans[vowel]
        loud = (t >= start + 0.03) & (t <= end) & (level > 0)
        right[vowel] = bool(loud.any()) and int(np.argmax(weights[loud].mean(axis=0))) == i
    edges = [(0.0, take.spans["a"][0])]
    edges += [(take.spans[a][1], take.spans[b][0]) for a, b in itertools.pairwise(VOWELS)]
    edges.append((take.spans["o"][1], take.samples.size / take.rate))
    pause = np.zeros(t.size, bool)
    for a, b in edges:
        pause |= (t >= a + 0.25) & (t <= b - 0.25)
    return Score(right, float(np.mean(level[pause] == 0.0)), float(np.mean(level[pause])))


def wrong_order_refused(take: Take, order: str) -> bool:
    """Whether calibration refuses the take's vowels rearranged into ``order``, naming that order."""
    pause = np.zeros(int(PAUSE_S * take.rate), np.float32)
    parts = [pause]
    for vowel in order:
        start, end = take.spans[vowel]
        parts += [take.samples[int(start * take.rate) : int(end * take.rate)], pause]
    try:
        calibrate_take(np.concatenate(parts), take.rate)
    except CalibrationError as exc:
        return f"heard {', '.join(order)}" in str(exc)
    return False


def voice_results(voice: str) -> dict:
    """Every measurement for one voice (a process of its own: the voices run in parallel)."""
    with tempfile.TemporaryDirectory() as folder:
        takes = [speak_take(voice, p, s, Path(folder)) for p, s in PITCH_SPEED]
    base, others = takes[0], takes[1:]
    out: dict = {"voice": voice, "takes": takes}
    own = calibrate_take(base.samples, base.rate).profile
    out["profile"] = own
    out["calibrated"] = [score(t, t.samples, own).correct for t in others]
    out["builtin"] = [score(t, t.samples, default_profile()) for t in takes]
    noisy: dict = {}
    for kind in NOISES:
        for snr in (20, 10):
            scores = [score(t, mix(t, kind, snr, seed=n), own) for n, t in enumerate(others)]
            calibrated_in_noise: str | list[int]
            try:
                in_noise = calibrate_take(mix(base, kind, snr, seed=99), base.rate).profile
                calibrated_in_noise = [
                    score(t, mix(t, kind, snr, seed=n), in_noise).correct for n, t in enumerate(others)
                ]
            except CalibrationError as exc:
                calibrated_in_noise = f"refused: {exc}"
            noisy[(kind, snr)] = (scores, calibrated_in_noise)
    out["noisy"] = noisy
    speaker = phoneme_speaker()
    out["words"] = word_vowels_right(speaker, voice, own)
    out["words_builtin"] = word_vowels_right(speaker, voice, default_profile())
    out["order"] = [wrong_order_refused(t, order) for t in takes for order in WRONG_ORDERS]
    silent = np.zeros(base.rate * 3, np.float32)
    hum = 0.01 * np.sqrt(2) * np.sin(2 * np.pi * 50 * np.arange(silent.size) / base.rate)
    out["dc"] = float(np.mean(analyse(silent + 0.01, base.rate, default_profile())[1]))
    out["hum"] = float(np.mean(analyse((silent + hum).astype(np.float32), base.rate, default_profile())[1]))
    return out


def percent(values: list[float]) -> str:
    return f"{100.0 * float(np.mean(values)):.0f} %"


def report(results: list[dict], label: str) -> None:
    print(f"\n### {label}: {', '.join(r['voice'] for r in results)}\n")
    calibrated = [c for r in results for c in r["calibrated"]]
    builtin = [s for r in results for s in r["builtin"]]
    print("| condition | with a profile | built-in profile |\n|---|---|---|")
    with_profile = f"{sum(c == 5 for c in calibrated)}/{len(calibrated)} takes 5/5"
    built_in = f"{sum(s.correct >= 4 for s in builtin)}/{len(builtin)} takes 4/5 or better"
    print(
        f"| same voice, other pitch/speed, long vowels | {with_profile}, "
        f"{percent([c / 5 for c in calibrated])} of vowels | {built_in}, "
        f"{percent([s.correct / 5 for s in builtin])} of vowels |"
    )
    words = [x for r in results for x in r["words"]]
    words_builtin = [x for r in results for x in r["words_builtin"]]
    print(
        f"| same voice, short vowels in {len(WORDS)} words, all pitch/speed pairs ({len(words)} vowels) | "
        f"{percent(words)} | {percent(words_builtin)} |"
    )
    cross = []
    for r in results:
        for other in results:
            if other is not r:
                cross += [score(t, t.samples, r["profile"]).correct / 5 for t in other["takes"][:1]]
    if cross:
        print(f"| cross-speaker (profile of voice A on voice B) | {percent(cross)} | – |")
    per_vowel = ", ".join(f"{v} {percent([s.right[v] for s in builtin])}" for v in VOWELS)
    print(f"| per vowel, built-in | – | {per_vowel} |")
    for kind in NOISES:
        for snr in (20, 10):
            scores = [s for r in results for s in r["noisy"][(kind, snr)][0]]
            in_noise = [r["noisy"][(kind, snr)][1] for r in results]
            refused = sum(isinstance(x, str) for x in in_noise)
            accepted = [c / 5 for x in in_noise if not isinstance(x, str) for c in x]
            calib = f"calibrated in the noise: {percent(accepted) if accepted else '–'}" + (
                f", {refused} refused" if refused else ""
            )
            print(
                f"| {kind} noise at {snr} dB SNR | pause frames at level 0: "
                f"{percent([s.pause_closed for s in scores])} (mean level "
                f"{np.mean([s.pause_level for s in scores]):.2f}); vowels "
                f"{percent([s.correct / 5 for s in scores])} ({calib}) | – |"
            )
    refused = [x for r in results for x in r["order"]]
    print(
        f"| takes in another order ({', '.join(WRONG_ORDERS)}) | refused naming the order: "
        f"{sum(refused)}/{len(refused)} | – |"
    )
    print(
        f"| DC offset 0.01 / 50 Hz hum at −40 dBFS, alone | – | mean level "
        f"{max(r['dc'] for r in results):.2f} / {max(r['hum'] for r in results):.2f} |"
    )


def analysis_cost(seconds: float = 20.0) -> tuple[float, float]:
    """Median CPU microseconds per 10 ms hop over five runs (16 kHz, the built-in profile), and the
    same for the baseline: one bare numpy FFT of the 32 ms window per hop."""
    rng = np.random.default_rng(0)
    signal = (0.05 * rng.normal(0, 1, int(16000 * seconds))).astype(np.float32)
    blocks = np.array_split(signal, len(signal) // 160)
    costs, baseline = [], []
    for _ in range(5):
        analyzer = VoiceAnalyzer(16000, default_profile())
        started = time.process_time()
        for block in blocks:
            analyzer.feed(block)
        costs.append((time.process_time() - started) / len(blocks) * 1e6)
        started = time.process_time()
        for block in blocks:
            np.fft.rfft(np.resize(block, 512), 512)
        baseline.append((time.process_time() - started) / len(blocks) * 1e6)
    return statistics.median(costs), statistics.median(baseline)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="voices analysed in parallel")
    parser.add_argument(
        "--tuning-only", action="store_true", help="only the voices the constants were tuned on"
    )
    args = parser.parse_args()
    started = time.monotonic()
    voices = TUNING if args.tuning_only else TUNING + HELD_OUT
    with ProcessPoolExecutor(args.jobs) as pool:
        results = {r["voice"]: r for r in pool.map(voice_results, voices)}
    print(f"CPU: {cpu_name()}; Python {platform.python_version()}")
    print(f"{len(voices)} voices × {len(PITCH_SPEED)} pitch/speed pairs {PITCH_SPEED}")
    report([results[v] for v in TUNING], "Tuning voices")
    if not args.tuning_only:
        report([results[v] for v in HELD_OUT], "Held-out voices (never tuned on)")
    cost, fft = analysis_cost()
    print(
        f"\nanalysis cost: {cost:.0f} µs of CPU per 10 ms hop (median of 5 runs, 16 kHz) = "
        f"{cost / fft:.1f} × one bare 512-point FFT ({fft:.0f} µs) = {cost / 100:.2f} % of one core"
    )
    print(f"benchmark took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
