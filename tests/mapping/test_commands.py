"""`ezvtb-node mappings check|apply` as users run them (a real subprocess, stdin/stdout)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ezvtb_node.mapping.mapper import Mapper
from ezvtb_node.pose import POSE_INDEX

from .conftest import MAPPINGS
from .reference import random_arkit_frames


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ezvtb_node.cli", "mappings", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_accepts_every_bundled_mapping():
    files = sorted(MAPPINGS.glob("*.toml"))
    assert [p.stem for p in files] == ["ifacialmocap", "vmc_perfect_sync", "vmc_vrm", "voice"]
    result = cli("check", *(str(p) for p in files))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok:") == 4


def test_check_by_bundled_name():
    result = cli("check", "vmc_vrm")
    assert result.returncode == 0 and "vmc_vrm.toml: ok" in result.stdout


def test_check_reports_file_line_and_key(write_mapping):
    path = write_mapping(
        '[pose]\nmouth_aaa = { from = "jawOpen" }\nmouth_ooo = { from = "jawOpen", clamp = [1, 0] }\n'
    )
    result = cli("check", str(path))
    assert result.returncode == 1
    assert f"{path}:3: pose.mouth_ooo.clamp: expected [low, high] with low <= high" in result.stderr
    assert "Traceback" not in result.stderr


def test_apply_trace_lines_matches_the_mapper():
    frames = random_arkit_frames(20, seed=9)
    trace = "".join(
        json.dumps({"t": i / 30, "source": "ifacialmocap", "channels": f}) + "\n"
        for i, f in enumerate(frames)
    )
    result = cli("apply", str(MAPPINGS / "ifacialmocap.toml"), stdin=trace)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 20
    mapper = Mapper(MAPPINGS / "ifacialmocap.toml")
    for line, (i, frame) in zip(lines, enumerate(frames), strict=True):
        values = json.loads(line)
        assert len(values) == 45 and all(isinstance(v, float | int) for v in values)
        np.testing.assert_allclose(values, mapper.update(frame, i / 30)[0], atol=1e-6)


def test_apply_bare_channel_objects_without_filters():
    stdin = '{"jawOpen": 0.25}\n\n{"jawOpen": 0.4, "head.yaw": -5}\n'
    result = cli("apply", "ifacialmocap", "--no-filters", stdin=stdin)
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first[POSE_INDEX["mouth_aaa"]] > 0 and second[POSE_INDEX["head_y"]] == pytest.approx(0.5)
    assert second[POSE_INDEX["body_y"]] == pytest.approx(0.5)


def test_apply_calibrate_takes_the_first_frame_as_neutral():
    stdin = '{"head.yaw": 6.0, "head.roll": -3.0}\n{"head.yaw": 6.0, "head.roll": -3.0}\n{"head.yaw": 1.0}\n'
    result = cli("apply", "ifacialmocap", "--no-filters", "--calibrate", stdin=stdin)
    poses = [json.loads(line) for line in result.stdout.splitlines()]
    assert poses[0][POSE_INDEX["head_y"]] == 0.0 and poses[1][POSE_INDEX["neck_z"]] == 0.0
    assert poses[2][POSE_INDEX["head_y"]] == pytest.approx(0.5)  # 5° the other way from the neutral 6°
    assert poses[2][POSE_INDEX["neck_z"]] == pytest.approx(0.2)  # roll 0 is +3° from neutral


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ('{"jawOpen": 0.1}\nnot json\n', "stdin line 2: expected a JSON object, got invalid JSON"),
        ("[1, 2]\n", "stdin line 1: expected a JSON object, got list"),
        ('{"t": "soon", "channels": {}}\n', "stdin line 1: expected 't' to be a number of seconds"),
        ('{"channels": {"jawOpen": null}}\n', "channel 'jawOpen': expected a finite number, got None"),
    ],
)
def test_apply_rejects_bad_lines_clearly(stdin, message):
    result = cli("apply", "ifacialmocap", stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_apply_unknown_bundled_name_lists_the_known_ones():
    result = cli("apply", "vseeface")
    assert result.returncode == 1 and "ifacialmocap" in result.stderr and "vmc_vrm" in result.stderr
