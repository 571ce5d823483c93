"""The tracking-source settings and the one factory that builds sources from them.

``run`` (node.toml ``[input]``), ``listen`` and ``record`` take the same source flags, made here by
``add_source_flags``, and build their sources with ``make_tracking_sources``; the node's port check
(``app.assembly.listeners``, and doctor through it) asks ``receiver_ports``. So a source that works
in ``listen`` works in ``run``, with the same spelling and the same defaults.

Flag spellings kept as aliases for scripts written before the names were unified: ``--ifm`` (now
``--ifacialmocap``) and ``--ifm-phone`` (now ``--ifacialmocap-phone``), from ``listen``/``record``.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ezvtb_node.endpoints import PortUse, parse_endpoint
from ezvtb_node.inputs.ifacialmocap import DEFAULT_PORT as IFACIALMOCAP_PORT
from ezvtb_node.inputs.ifacialmocap import FACEMOTION3D_PORT, IFacialMocapReceiver
from ezvtb_node.inputs.source import DEFAULT_LOST_AFTER_S, FrameSource
from ezvtb_node.inputs.vmc import DEFAULT_PORT as VMC_PORT
from ezvtb_node.inputs.vmc import CommandHandler, VmcReceiver
from ezvtb_node.sources import FACEMOTION3D, IFACIALMOCAP, VMC

LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"
# The settings that switch a receiver on (listen/record open VMC and iFacialMocap when none is given).
RECEIVER_KEYS = ("vmc", "ifacialmocap", "ifacialmocap_phone", "facemotion3d")


def _about(help_text: str, metavar: str, *aliases: str) -> dict[str, Any]:
    """A setting's metadata: its help, its flag's metavar and older flag spellings kept."""
    return {"help": help_text, "metavar": metavar, "aliases": aliases}


@dataclass
class SourceSettings:
    """Where to listen for tracking, and how; every field is a node.toml ``[input]`` key and a flag
    of ``run``, ``listen`` and ``record`` (``--`` + the name with dashes)."""

    vmc: str = field(
        default=f"{LOOPBACK}:{VMC_PORT}",
        metadata=_about(
            "VMC/OSC receiver HOST:PORT (VSeeFace and other performers), 'on' or 'off'", "HOST:PORT"
        ),
    )
    ifacialmocap: str = field(
        default="off",
        metadata=_about(
            f"iFacialMocap receiver HOST:PORT, 'on' ({LOOPBACK}:{IFACIALMOCAP_PORT}; {ALL_INTERFACES} with "
            "a phone address) or 'off'",
            "HOST:PORT",
            "--ifm",
        ),
    )
    ifacialmocap_phone: str = field(
        default="",
        metadata=_about(
            "phone address: send iFacialMocap's start request to it (active mode; listens on 0.0.0.0)",
            "IP",
            "--ifm-phone",
        ),
    )
    facemotion3d: str = field(
        default="off",
        metadata=_about(
            f"Facemotion3D receiver HOST:PORT, 'on' ({LOOPBACK}:{FACEMOTION3D_PORT}) or 'off'", "HOST:PORT"
        ),
    )
    allow: list[str] = field(
        default_factory=list,
        metadata=_about(
            "accept iFacialMocap/Facemotion3D packets only from these IP addresses (none: from anyone)", "IP"
        ),
    )
    lost_after: float = field(
        default=DEFAULT_LOST_AFTER_S,
        metadata=_about("seconds without packets before tracking counts as lost", "S"),
    )
    audio: str = field(
        default="",
        metadata=_about(
            "voice lip sync: a WAV file, 'mic' (default input device), a device name or index "
            "(see `ezvtb-node voice devices`)",
            "FILE.wav|mic|DEVICE",
        ),
    )
    voice_profile: str = field(
        default="",
        metadata=_about(
            "voice profile from `ezvtb-node voice calibrate` ('' = the built-in one)", "PROFILE.json"
        ),
    )

    def validate(self) -> None:
        """Raise ValueError naming the setting, what it takes and what came."""
        if not self.lost_after > 0:
            raise ValueError(f"lost_after must be a positive number of seconds, got {self.lost_after}")
        for address in self.allow:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"allow: expected IP addresses, got {address!r}") from None
        if self.voice_profile and not self.audio:
            raise ValueError(
                "--voice-profile applies to a voice input: add --audio FILE.wav|mic|DEVICE "
                "(in node.toml: set audio beside voice_profile)"
            )
        self.receivers()

    def without_receivers(self) -> SourceSettings:
        """These settings with every receiver off (a replay plays instead; the voice input stays)."""
        return dataclasses.replace(
            self, vmc="off", ifacialmocap="off", ifacialmocap_phone="", facemotion3d="off"
        )

    def receivers(self) -> list[tuple[str, tuple[str, int]]]:
        """(kind, (host, port)) of each receiver switched on; kinds: vmc, ifacialmocap, facemotion3d."""
        found = []
        if (vmc := parse_endpoint(self.vmc, LOOPBACK, VMC_PORT, "vmc")) is not None:
            found.append((VMC, vmc))
        # Loopback unless a phone address is given: then the phone's packets must reach us.
        ifm_host = ALL_INTERFACES if self.ifacialmocap_phone else LOOPBACK
        ifm = parse_endpoint(self.ifacialmocap, ifm_host, IFACIALMOCAP_PORT, "ifacialmocap")
        if ifm is None and self.ifacialmocap_phone:
            ifm = (ifm_host, IFACIALMOCAP_PORT)
        if ifm is not None:
            found.append((IFACIALMOCAP, ifm))
        if (
            fm3d := parse_endpoint(self.facemotion3d, LOOPBACK, FACEMOTION3D_PORT, "facemotion3d")
        ) is not None:
            found.append((FACEMOTION3D, fm3d))
        return found


SOURCE_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SourceSettings))

_PORTS = {  # kind: (label, who usually holds the port, the flag that moves it)
    VMC: ("VMC", VmcReceiver.PORT_CULPRITS, "--vmc"),
    IFACIALMOCAP: ("iFacialMocap", IFacialMocapReceiver.PORT_CULPRITS, "--ifacialmocap"),
    FACEMOTION3D: ("Facemotion3D", IFacialMocapReceiver.PORT_CULPRITS, "--facemotion3d"),
}


def receiver_ports(settings: SourceSettings) -> list[PortUse]:
    """The UDP ports the receivers of ``settings`` listen on (port 0 = any free port included)."""
    uses = []
    for kind, (host, port) in settings.receivers():
        label, culprits, flag = _PORTS[kind]
        uses.append(PortUse(label, "udp", host, port, culprits, f"set another port with {flag} HOST:PORT"))
    return uses


def make_tracking_sources(
    settings: SourceSettings,
    *,
    realtime_audio: bool,
    commands: Mapping[str, CommandHandler] | None = None,
    **hooks: Any,
) -> list[FrameSource]:
    """The sources ``settings`` switch on, built and validated, not started.

    ``realtime_audio``: play a WAV file at its real pace (a microphone always is);
    ``commands``: OSC addresses the VMC receiver acts on (see VmcDecoder); ``hooks``: ``on_frame``
    and/or ``tap`` for every receiver.
    """
    settings.validate()
    options = {"lost_after": settings.lost_after, **hooks}
    sources: list[FrameSource] = []
    allow = settings.allow or None
    for kind, (host, port) in settings.receivers():
        if kind == VMC:
            sources.append(VmcReceiver(host, port, commands=commands, **options))
        else:
            phone = (settings.ifacialmocap_phone or None) if kind == IFACIALMOCAP else None
            sources.append(
                IFacialMocapReceiver(
                    host, port, phone=phone, allow_from=allow, facemotion3d=kind == FACEMOTION3D, **options
                )
            )
    if settings.audio:
        # Imported only when asked for: PortAudio is loaded by the voice input alone.
        from ezvtb_node.inputs.voice.source import open_voice_source

        voice_hooks = {key: value for key, value in options.items() if key != "tap"}
        sources.append(
            open_voice_source(
                settings.audio, settings.voice_profile or None, realtime=realtime_audio, **voice_hooks
            )
        )
    return sources


def add_source_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per SourceSettings field, aliases included; defaults are None, so only the flags
    given override node.toml (``run``) or the defaults."""
    for f in dataclasses.fields(SourceSettings):
        flags = ["--" + f.name.replace("_", "-"), *f.metadata["aliases"]]
        options: dict[str, Any] = {"dest": f.name, "default": None, "metavar": f.metadata["metavar"]}
        if f.type == "list[str]":
            parser.add_argument(*flags, action="append", help=f.metadata["help"] + " (repeatable)", **options)
        else:
            kind = float if f.type == "float" else str
            parser.add_argument(*flags, type=kind, help=f.metadata["help"], **options)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The source flags that were given on the command line."""
    return {name: getattr(args, name) for name in SOURCE_KEYS if getattr(args, name, None) is not None}
