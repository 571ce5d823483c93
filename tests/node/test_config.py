import argparse

import pytest

from ezvtb_node.app.config import NodeConfig, add_config_flags, build_config, config_keys, load_config_file
from ezvtb_node.cli import main


def parse(argv, config_path=None):
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    return build_config(parser.parse_args(argv), config_path)


def test_every_key_has_a_flag():
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    flags = {a.dest for a in parser._actions}
    assert set(config_keys()) <= flags


def test_flags_win_over_the_file_and_the_file_over_defaults(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text('[input]\nvmc = "127.0.0.1:4000"\n[output]\nfps = 30\noutput = ["null"]\n')
    config = parse(["--fps", "50"], path)
    assert config.input.vmc == "127.0.0.1:4000"  # file
    assert config.output.fps == 50.0  # flag
    assert config.output.output == ["null"]
    assert config.core.interpolation_scale == 2  # default


def test_repeatable_output_flag_replaces_the_default():
    assert parse(["--output", "null", "--output", "files:/tmp/x"]).output.output == ["null", "files:/tmp/x"]


def test_boolean_flags_have_negations():
    assert parse(["--no-use-interpolation"]).core.use_interpolation is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[input]\nvmcc = 'x'\n", "unknown key 'vmcc' in \\[input\\]"),
        ("[output]\nvmc = 'x'\n", "belongs in \\[input\\]"),
        ("[output]\nfps = 'fast'\n", "fps must be float, got 'fast'"),
        ("[output]\noutput = 'null'\n", "output must be a list of strings"),
        ("[input\n", "not valid TOML"),
    ],
)
def test_bad_files_are_named_with_the_key(tmp_path, text, message):
    path = tmp_path / "node.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config_file(path)


def test_invalid_values_are_rejected():
    with pytest.raises(ValueError, match="interpolation_scale must be one of 2, 3, 4, got 5"):
        parse(["--interpolation-scale", "5"])


def test_print_config_round_trips(tmp_path, capsys):
    assert main(["run", "--print-config", "--fps", "48", "--output", "null"]) == 0
    printed = capsys.readouterr().out
    path = tmp_path / "printed.toml"
    path.write_text(printed)
    again = parse([], path)
    assert again.output.fps == 48.0 and again.output.output == ["null"]
    assert again == parse(["--fps", "48", "--output", "null"])


def test_example_node_toml_is_valid():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "node.toml"
    config = parse([], example)
    assert config.input.vmc.endswith(":39539")


def test_every_get_core_option_is_a_run_flag_a_node_toml_key_and_printed():
    import dataclasses

    from ezvtb_node.cli import build_parser
    from ezvtb_node.core.options import CoreOptions

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    flags = {option for action in run._actions for option in action.option_strings}
    printed = NodeConfig().to_toml()
    core_section = printed[printed.index("[core]") : printed.index("[output]")]
    for option in dataclasses.fields(CoreOptions):
        assert f"--{option.name.replace('_', '-')}" in flags, option.name
        assert f"\n{option.name} = " in core_section, option.name


def test_core_keys_reach_get_core_with_their_names(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text('[core]\nuse_sr = true\nsr_scale = 4\ncacher_ram_size = 0.5\nmodel_dir = ""\n')
    options = parse(["--cpu-threads", "1", "--sr-model", "bicubic"], path).core
    assert (options.use_sr, options.sr_scale, options.sr_model) == (True, 4, "bicubic")
    assert (options.cacher_ram_size, options.cpu_threads, options.model_dir) == (0.5, 1, None)


def test_the_node_changes_get_cores_defaults_only_where_it_says_why():
    from ezvtb_node.app.config import NODE_CORE_DEFAULTS
    from ezvtb_node.core.options import CoreOptions

    node, library = NodeConfig().core, CoreOptions()
    differing = {name for name in NODE_CORE_DEFAULTS if getattr(node, name) != getattr(library, name)}
    assert differing == set(NODE_CORE_DEFAULTS) == {"cacher_on_database", "model_half"}
    for name, (value, why) in NODE_CORE_DEFAULTS.items():
        assert getattr(node, name) == value and len(why) > 20
    assert {k: v for k, v in vars(node).items() if k not in NODE_CORE_DEFAULTS} == {
        k: v for k, v in vars(library).items() if k not in NODE_CORE_DEFAULTS
    }


@pytest.mark.parametrize(
    ("flag", "toml", "expected"),
    [
        ("auto", '"auto"', "auto"),
        ("true", "true", True),
        ("false", "false", False),
        ("False", '"false"', False),
    ],
)
def test_model_half_takes_true_false_or_auto_from_a_flag_or_the_file(tmp_path, flag, toml, expected):
    assert parse(["--model-half", flag]).core.model_half == expected
    path = tmp_path / "node.toml"
    path.write_text(f"[core]\nmodel_half = {toml}\n")
    assert parse([], path).core.model_half == expected


def test_the_old_no_model_half_flag_still_asks_for_fp32():
    assert parse(["--no-model-half"]).core.model_half is False


def test_a_model_half_that_is_neither_a_bool_nor_auto_is_refused_naming_what_came(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text('[core]\nmodel_half = "fp16"\n')
    with pytest.raises(ValueError, match="model_half: expected true, false or auto, got 'fp16'"):
        load_config_file(path)
    with pytest.raises(SystemExit):
        parse(["--model-half", "yes"])


def test_every_key_is_in_exactly_one_section_and_printed_under_it():
    printed = NodeConfig().to_toml()
    sections = [line for line in printed.splitlines() if line.startswith("[")]
    assert sections == ["[input]", "[mapping]", "[character]", "[core]", "[output]", "[control]", "[run]"]
    for name, key in config_keys().items():
        start = printed.index(f"[{key.section}]")
        end = printed.find("\n[", start + 1)
        assert f"\n{name} = " in printed[start : end if end != -1 else None], name


def test_keys_build_typed_sections_and_an_unknown_key_is_named():
    config = NodeConfig.from_keys(vmc="off", use_sr=True, model_dir="", output=["null"], max_frames=3)
    assert (config.input.vmc, config.core.use_sr, config.core.model_dir) == ("off", True, None)
    assert (config.output.output, config.run.max_frames) == (["null"], 3)
    assert config.core.cacher_on_database is True  # the node's default survives a changed section
    with pytest.raises(TypeError, match="NodeConfig has no key 'vmcc'"):
        NodeConfig.from_keys(vmcc="off")


def test_the_geometry_comes_from_the_core_section():
    assert NodeConfig.from_keys(interpolation_scale=3).core.frames_per_inference == 3
    assert NodeConfig.from_keys(use_interpolation=False).core.frames_per_inference == 1
    assert NodeConfig.from_keys(use_sr=True, sr_scale=4).core.frame_side == 2048
    assert NodeConfig().core.frame_side == 512
