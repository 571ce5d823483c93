"""Invalid mapping files fail with the file, the line, the key and a useful message."""

import pytest

from ezvtb_node.mapping.mapping import load_mapping
from ezvtb_node.mapping.schema import MappingError


def error_of(write_mapping, text: str) -> MappingError:
    path = write_mapping(text)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}:")
    return caught.value


def test_unknown_parameter_names_line_and_suggests(write_mapping):
    error = error_of(
        write_mapping, '[pose]\nmouth_aaa = { from = "jawOpen" }\neye_wnk_left = { from = "eyeBlinkLeft" }\n'
    )
    assert error.line == 3
    assert error.key == "pose.eye_wnk_left"
    assert "did you mean 'eye_wink_left'" in error.message


def test_unknown_channel_suggests_close_match(write_mapping):
    error = error_of(
        write_mapping, "[values]\n\nsmile = { sum = { mouthSmileLeft = 0.5, mouthSmileRigth = 0.5 } }\n"
    )
    assert error.line == 3
    assert "mouthSmileRigth" in error.message and "did you mean 'mouthSmileRight'" in error.message


def test_case_mismatch_of_a_channel_is_suggested(write_mapping):
    error = error_of(write_mapping, '[pose]\nmouth_aaa = { from = "JawOpen" }\n')
    assert "did you mean 'jawOpen'" in error.message


def test_wrong_type_says_expected_and_got(write_mapping):
    error = error_of(write_mapping, '[pose]\nmouth_aaa = { from = "jawOpen", scale = "2" }\n')
    assert error.line == 2
    assert error.key == "pose.mouth_aaa.scale"
    assert "expected a number" in error.message and "'2' (string)" in error.message


def test_out_of_range_constants(write_mapping):
    error = error_of(write_mapping, '[pose]\nmouth_aaa = { from = "jawOpen", dead_zone = -0.1 }\n')
    assert "expected a number >= 0" in error.message
    error = error_of(write_mapping, "[filters]\nmin_cutoff = 0\n")
    assert (error.line, error.key) == (2, "filters.min_cutoff") and "> 0" in error.message
    error = error_of(write_mapping, "[quantize]\ndefault = 0.005\neye = 2\n")
    assert (error.line, error.key) == (3, "quantize.eye") and "<= 1" in error.message
    error = error_of(write_mapping, '[pose]\nhead_x = { from = "head.pitch", ramp = [15, 15] }\n')
    assert "two different thresholds" in error.message


def test_cycle_between_values_is_named(write_mapping):
    text = '[values]\na = { from = "b" }\nb = { from = "c" }\nc = { sum = { a = 1.0, jawOpen = 1.0 } }\n'
    error = error_of(write_mapping, text)
    assert "cycle" in error.message
    assert (
        "a → b → c → a" in error.message
        or "b → c → a → b" in error.message
        or "c → a → b → c" in error.message
    )
    assert error.line in (2, 3, 4)


def test_syntax_error_reports_line(write_mapping):
    error = error_of(write_mapping, '[pose]\nmouth_aaa = { from = "jawOpen"\n')
    assert error.line == 2 and "not valid TOML" in error.message


def test_unknown_key_inside_definition(write_mapping):
    error = error_of(write_mapping, '[pose]\nmouth_aaa = { form = "jawOpen" }\n')
    assert error.key == "pose.mouth_aaa.form" and "did you mean 'from'" in error.message


def test_unknown_table(write_mapping):
    error = error_of(write_mapping, "[filter]\nbeta = 1\n")
    assert error.line == 1 and "did you mean 'filters'" in error.message


def test_block_shape_length_and_dependence(write_mapping):
    head = '[blocks.m]\nsolver = "vowel_fit"\ninputs = ["jawOpen", "mouthFunnel"]\n'
    error = error_of(write_mapping, head + "shapes.a = [1.0, 0.0]\nshapes.b = [1.0]\n")
    assert (error.line, error.key) == (5, "blocks.m.shapes.b") and "expected 2 numbers" in error.message
    error = error_of(write_mapping, head + "shapes.a = [1.0, 0.5]\nshapes.b = [2.0, 1.0]\n")
    assert "linearly dependent" in error.message
    error = error_of(write_mapping, head.replace("vowel_fit", "vowel_fitt") + "shapes.a = [1.0, 0.5]\n")
    assert "did you mean 'vowel_fit'" in error.message


def test_mirror_needs_an_existing_source(write_mapping):
    error = error_of(write_mapping, '[pose]\neye_wink_right = { mirror = "eye_wink_lft" }\n')
    assert error.key == "pose.eye_wink_right.mirror"
    error = error_of(
        write_mapping,
        '[pose]\neye_wink_left = { from = "eyeBlinkLeft" }\n'
        'eye_wink_right = { mirror = "eye_wink_left", scale = 2 }\n',
    )
    assert error.line == 3 and "remove scale" in error.message


def test_value_names_cannot_shadow_channels_or_parameters(write_mapping):
    assert (
        "lower_case_with_underscores"
        in error_of(write_mapping, "[values]\njawOpen = { const = 1 }\n").message
    )
    error = error_of(write_mapping, "[values]\nmouth_aaa = { const = 1 }\n")
    assert "define it under [pose]" in error.message


def test_custom_vrm_clip_needs_declaring(write_mapping):
    error = error_of(write_mapping, '[pose]\neye_surprised_left = { from = "vrm.Surprised" }\n')
    assert "extra_channels" in error.message
    path = write_mapping(
        '[mapping]\nextra_channels = ["vrm.Surprised"]\n'
        '[pose]\neye_surprised_left = { from = "vrm.Surprised" }\n',
        "ok.toml",
    )
    assert load_mapping(path).evaluate({"vrm.Surprised": 0.7})[16] == pytest.approx(0.7)


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(MappingError, match="no such mapping file"):
        load_mapping(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[pose]\nmouth_aaa = { from = "\xff" }\n')
    with pytest.raises(MappingError, match="UTF-8"):
        load_mapping(bad)
