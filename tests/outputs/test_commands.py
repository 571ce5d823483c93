import json

import numpy as np
from PIL import Image

from ezvtb_node.cli import main


def test_outputs_test_streams_the_pattern_through_the_pacer_to_files(tmp_path, capsys):
    assert main(["outputs", "test", "--output", f"files:{tmp_path}", "--seconds", "0.4", "--size", "64"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["pacer"]["ticks"] >= 10
    assert report["output"]["written"] == len(list(tmp_path.glob("frame_*.png"))) >= 5
    with Image.open(tmp_path / "frame_000000.png") as image:
        top_row = np.asarray(image)[0]
    # Bands left to right: red, green, blue, white, opaque at the top (RGBA as stored in the PNG).
    for band, rgb in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]):
        pixels = top_row[band * 16 + 4 : band * 16 + 12]
        bar = (pixels[:, :3] == 0).all(axis=1)  # the moving black bar may cover a few pixels
        assert (pixels[~bar] == (*rgb, 255)).all()


def test_outputs_test_reports_a_bad_output_without_a_traceback(capsys):
    assert main(["outputs", "test", "--output", "hdmi", "--seconds", "0.1"]) == 1
    assert "unknown output kind 'hdmi'" in capsys.readouterr().err
