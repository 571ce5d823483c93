"""One set of source settings for `run`, `listen` and `record`: the same flags, parsed to the same
settings, built by the one factory into the same receivers."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from ezvtb_node.app.config import NodeConfig, build_config
from ezvtb_node.cli import build_parser
from ezvtb_node.inputs import IFacialMocapReceiver, VmcReceiver
from ezvtb_node.inputs.commands import build_sources, source_settings
from ezvtb_node.inputs.settings import SOURCE_KEYS, SourceSettings, make_tracking_sources, receiver_ports

# Every source flag with a value that differs from its default, old spellings included.
SOURCE_ARGS = [
    "--vmc", "127.0.0.1:40001",
    "--ifacialmocap", "127.0.0.1:40002",
    "--ifacialmocap-phone", "192.0.2.9",
    "--facemotion3d", "127.0.0.1:40003",
    "--allow", "192.0.2.9",
    "--allow", "192.0.2.10",
    "--lost-after", "0.75",
    "--audio", "take.wav",
    "--voice-profile", "me.json",
]  # fmt: skip
EXPECTED = {
    "vmc": "127.0.0.1:40001",
    "ifacialmocap": "127.0.0.1:40002",
    "ifacialmocap_phone": "192.0.2.9",
    "facemotion3d": "127.0.0.1:40003",
    "allow": ["192.0.2.9", "192.0.2.10"],
    "lost_after": 0.75,
    "audio": "take.wav",
    "voice_profile": "me.json",
}
COMMANDS = {"run": [], "listen": [], "record": ["out.jsonl"]}


def parse(command: str, *args: str) -> argparse.Namespace:
    return build_parser().parse_args([command, *COMMANDS[command], *args])


def flags_of(command: str) -> dict[str, str]:
    """Every --flag the command's parser takes, and where it stores its value."""
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = subparsers.choices[command]
    return {flag: action.dest for action in parser._actions for flag in action.option_strings}


def test_the_expected_values_cover_every_source_setting():
    assert set(EXPECTED) == set(SOURCE_KEYS)
    defaults = dataclasses.asdict(SourceSettings())
    assert all(EXPECTED[key] != defaults[key] for key in SOURCE_KEYS), "each flag must change something"


@pytest.mark.parametrize("command", COMMANDS)
def test_run_listen_and_record_parse_every_source_flag_to_the_same_settings(command):
    args = parse(command, *SOURCE_ARGS)
    assert {key: getattr(args, key) for key in SOURCE_KEYS} == EXPECTED


def test_run_listen_and_record_take_the_same_source_flags_spelled_the_same_way():
    source_flags = {
        command: {flag: dest for flag, dest in flags_of(command).items() if dest in SOURCE_KEYS}
        for command in COMMANDS
    }
    assert source_flags["run"] == source_flags["listen"] == source_flags["record"]
    assert {"--ifm", "--ifm-phone", "--ifacialmocap", "--facemotion3d", "--allow"} <= set(source_flags["run"])


@pytest.mark.parametrize("command", COMMANDS)
def test_the_old_ifm_spellings_still_work_everywhere(command):
    args = parse(command, "--ifm", "127.0.0.1:40005", "--ifm-phone", "192.0.2.4")
    assert (args.ifacialmocap, args.ifacialmocap_phone) == ("127.0.0.1:40005", "192.0.2.4")


def test_run_turns_the_source_flags_into_its_config_and_listen_into_the_same_settings():
    run_settings = build_config(parse("run", *SOURCE_ARGS), None).input.source_settings()
    listen_settings = source_settings(parse("listen", *SOURCE_ARGS))
    assert run_settings == listen_settings == SourceSettings(**EXPECTED)
    toml = NodeConfig.from_keys(**EXPECTED, output=["null"]).to_toml()
    assert 'facemotion3d = "127.0.0.1:40003"' in toml and 'allow = ["192.0.2.9", "192.0.2.10"]' in toml


def test_run_and_listen_build_the_same_receivers_from_the_same_flags():
    receivers = ["--vmc", "127.0.0.1:0", "--facemotion3d", "127.0.0.1:0", "--allow", "192.0.2.9"]
    from_listen = build_sources(parse("listen", *receivers))
    config = build_config(parse("run", *receivers), None)
    from_run = make_tracking_sources(config.input.source_settings(), realtime_audio=True)
    for sources in (from_listen, from_run):
        assert [type(source) for source in sources] == [VmcReceiver, IFacialMocapReceiver]
        assert sources[1].name == "facemotion3d" and sources[1].allow_from == {"192.0.2.9"}


def test_listen_without_source_flags_opens_vmc_and_ifacialmocap_and_run_only_vmc():
    listen_ports = {(use.label, use.port) for use in receiver_ports(source_settings(parse("listen")))}
    assert listen_ports == {("VMC", 39539), ("iFacialMocap", 49983)}
    run_settings = build_config(parse("run"), None).input.source_settings()
    run_ports = {(use.label, use.port) for use in receiver_ports(run_settings)}
    assert run_ports == {("VMC", 39539)}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"allow": ["phone"]}, "allow: expected IP addresses, got 'phone'"),
        ({"lost_after": 0.0}, "lost_after must be a positive number of seconds, got 0.0"),
        ({"facemotion3d": "127.0.0.1:99999"}, "facemotion3d: expected HOST:PORT"),
        ({"voice_profile": "me.json"}, "--voice-profile applies to a voice input"),
    ],
)
def test_bad_source_settings_name_the_setting_before_anything_opens(settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SourceSettings(**settings).validate()


def test_the_node_checks_and_opens_the_facemotion3d_port_it_now_takes():
    from ezvtb_node.app.assembly import listeners, make_sources

    config = NodeConfig.from_keys(
        vmc="off", facemotion3d="on", allow=["192.0.2.9"], output=["null"], control="off"
    )
    checked = {(use.label, use.protocol, use.host, use.port) for use in listeners(config)}
    assert checked == {("Facemotion3D", "udp", "127.0.0.1", 49993)}
    (source,) = make_sources(config, lambda frame: None)
    assert (source.name, source.host, source.port) == ("facemotion3d", "127.0.0.1", 49993)
    assert source.allow_from == {"192.0.2.9"}
