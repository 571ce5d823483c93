import json
import subprocess
import sys
from pathlib import Path

import pytest

from ezvtb_node.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_engines_list_json_reports_state(tiny_engine_dir, monkeypatch, capsys):
    root = tiny_engine_dir.parent / "engines-root"
    target = root / "tha3" / "separable" / "fp32"
    target.mkdir(parents=True, exist_ok=True)
    for path in tiny_engine_dir.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    (root / "tha3" / "standard" / "fp16").mkdir(parents=True)
    monkeypatch.setenv("EZVTB_ENGINES_DIR", str(root))
    assert main(["engines", "list", "--json"]) == 0
    rows = {
        Path(r["path"]).relative_to(root).as_posix(): r["state"] for r in json.loads(capsys.readouterr().out)
    }
    assert rows["tha3/separable/fp32"] == "ok"
    assert "no manifest.json" in rows["tha3/standard/fp16"]


def test_demo_rejects_impossible_lengths(capsys):
    assert main(["demo", "--seconds", "0"]) == 1
    assert "--seconds must be in (0, 60]" in capsys.readouterr().err
    assert main(["demo", "--seconds", "61"]) == 1


@pytest.mark.slow
def test_seed_example_runs_as_written(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "core_example.py"), "", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(list(tmp_path.glob("frame_*.png"))) == 5


@pytest.mark.slow
def test_demo_writes_animation_sheet_and_report(tmp_path):
    assert main(["demo", "--seconds", "1.5", "--fps", "4", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["tha3_frames"] == 6 and report["core"]["variant"] == "separable"
    assert report["output_frames"] == 12  # interpolation x2 is on by default
    from PIL import Image

    with Image.open(tmp_path / "demo.webp") as animation:
        # The first THA3 frame has nothing to interpolate from, so the first two output frames are
        # equal, and WebP stores equal neighbours as one longer frame.
        assert animation.n_frames == 11 and animation.mode == "RGBA"
    assert (tmp_path / "contact-sheet.png").stat().st_size > 10_000
