"""Assembly: the parts a NodeConfig asks for (core, tracking sources, outputs, mappings, the ports
they open), built, or checked before anything heavy is built.

``preflight(config)`` is the fail-fast step: it reads the character image and every mapping file
the node may use, builds (without opening) every output, and probes every port the node will
listen on. It takes well under a second; the THA3 engines are built or loaded only after it passes.
doctor asks ``listeners(config)`` for the ports, so it checks exactly what the node will open.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ezvtb_node.app.config import NodeConfig
from ezvtb_node.character import load_character, sample_character_path
from ezvtb_node.core.options import CoreOptions
from ezvtb_node.endpoints import PortUse, parse_endpoint, port_problem
from ezvtb_node.inputs import FrameSource, open_replay
from ezvtb_node.inputs.settings import make_tracking_sources, receiver_ports
from ezvtb_node.inputs.source import FrameCallback
from ezvtb_node.mapping import CALIBRATE_OSC_ADDRESS, load_mapping
from ezvtb_node.mapping.bundled import resolve_mapping_path, vmc_candidates
from ezvtb_node.outputs import make_sink
from ezvtb_node.outputs.base import FrameSink
from ezvtb_node.outputs.spec import BrowserSpec, parse_output

if TYPE_CHECKING:  # loaded where used: the runtimes with the core, aiohttp with a browser output
    from ezvtb_node.core.core import Core

CONTROL_PORT = 8766
_CONTROL_CULPRITS = "another ezvtb-node (its control endpoint)"
_BROWSER_CULPRITS = "another ezvtb-node (its browser source) or another local web server"


class NodeError(RuntimeError):
    """A component could not start or its settings are wrong; the message names it and the fix."""


# -- addresses ------------------------------------------------------------------------------------
def control_endpoint(config: NodeConfig) -> tuple[str, int] | None:
    return parse_endpoint(config.control.control, "127.0.0.1", CONTROL_PORT, "control")


def listeners(config: NodeConfig) -> list[PortUse]:
    """Every port the node would listen on with ``config`` (port 0 = any free port: left out)."""
    uses = receiver_ports(config.input.live_sources())
    for spec in map(parse_output, config.output.output):
        if isinstance(spec, BrowserSpec):
            uses.append(
                PortUse(
                    "browser source",
                    "tcp",
                    spec.host,
                    spec.port,
                    _BROWSER_CULPRITS,
                    "set another port with --output browser:HOST:PORT",
                )
            )
    if (control := control_endpoint(config)) is not None:
        uses.append(
            PortUse("control", "tcp", *control, _CONTROL_CULPRITS, "set another port with --control ADDRESS")
        )
    return [use for use in uses if use.port != 0]


# -- the parts ------------------------------------------------------------------------------------
def character_path(config: NodeConfig) -> Path:
    return Path(config.character.image) if config.character.image else sample_character_path()


def mapping_names(config: NodeConfig) -> list[str]:
    """Every mapping the node may use with ``config`` (all are checked before it starts)."""
    mapping = config.mapping
    names = [mapping.mapping_ifacialmocap, *vmc_candidates(mapping.mapping_vmc)]
    return [*names, mapping.mapping_voice] if config.input.audio else names


def make_sinks(config: NodeConfig) -> list[FrameSink]:
    """The outputs, built but not opened (a bad spec raises ValueError naming it)."""
    return [make_sink(spec, fps=config.output.fps) for spec in config.output.output]


def make_sources(
    config: NodeConfig, on_frame: FrameCallback, calibrate: Callable[[], None] | None = None
) -> list[FrameSource]:
    """The tracking sources, not started: a replay or the receivers that are switched on, and the
    voice input beside either. ``calibrate`` is called when a sender asks for it over OSC
    (``/ezvtb/calibrate`` on the VMC port)."""
    settings = config.input.live_sources()
    commands = {CALIBRATE_OSC_ADDRESS: calibrate} if calibrate is not None else None
    # A WAV file plays in real time, as a microphone would, and the node stops at its end when no
    # other input is live (an offline render of a voice take).
    sources = make_tracking_sources(settings, realtime_audio=True, commands=commands, on_frame=on_frame)
    replay = config.input
    if replay.replay:
        speed = float("inf") if replay.replay_speed == 0 else replay.replay_speed
        options = {"loop": replay.replay_loop, "lost_after": replay.lost_after, "on_frame": on_frame}
        sources.append(open_replay(replay.replay, speed=speed, **options))
    return sources


def check_voice_source(config: NodeConfig) -> None:
    """Validate the voice input the ``audio`` setting asks for (file, device, profile); builds it,
    starts nothing."""
    if config.input.audio:
        make_tracking_sources(config.input.source_settings().without_receivers(), realtime_audio=True)


def make_core(options: CoreOptions, factory: Callable[[CoreOptions], Core] | None = None) -> Core:
    """The render core with the ``[core]`` settings (``factory``: tests pass one that builds a tiny core)."""
    if factory is not None:
        return factory(options)
    from ezvtb_node.core.core import Core

    return Core(options)


# -- fail fast ------------------------------------------------------------------------------------
def preflight(config: NodeConfig) -> None:
    """Check everything that can be checked without building the core; raise NodeError naming the
    first problem (file, port or key) and its fix."""
    try:
        config.validate()
    except ValueError as exc:
        raise NodeError(f"settings: {exc}") from None
    image = character_path(config)
    try:
        load_character(image)
    except (OSError, ValueError) as exc:
        raise NodeError(f"character image {image}: {exc}; pass --image FILE.png (512x512 RGBA)") from None
    for name in mapping_names(config):
        try:
            load_mapping(resolve_mapping_path(name))
        except (OSError, ValueError) as exc:
            raise NodeError(f"mapping {name}: {exc}") from None
    if config.input.replay and not Path(config.input.replay).is_file():
        raise NodeError(f"replay: file not found: {config.input.replay}")
    try:
        check_voice_source(config)
    except (OSError, ValueError, RuntimeError) as exc:  # bad file or profile, no such device
        raise NodeError(f"voice input {config.input.audio}: {exc}") from None
    for spec in config.output.output:
        try:
            make_sink(spec, fps=config.output.fps)  # built, not opened: a bad spec or a missing library
        except (ValueError, RuntimeError) as exc:
            raise NodeError(f"output {spec}: {exc}") from None
    for use in listeners(config):
        if (problem := port_problem(use)) is not None:
            raise NodeError(f"{use.label}: {problem[0]}; {problem[1]}")
