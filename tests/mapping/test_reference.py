"""The bundled ARKit mappings against an independent implementation of the THA3 demo's converter."""

import numpy as np
import pytest

from ezvtb_node.mapping.mapping import load_mapping
from ezvtb_node.mapping.vowelfit import VowelFit
from ezvtb_node.pose import POSE_INDEX, POSE_NAMES

from .conftest import MAPPINGS
from .reference import (
    L1,
    VOWEL_SHAPES,
    as_vmc_angles,
    mouth_cost,
    mouth_fit_exact,
    mouth_fit_lbfgsb,
    mouth_target,
    random_arkit_frames,
    reference_pose,
)

VOWELS = ["mouth_aaa", "mouth_iii", "mouth_uuu", "mouth_ooo"]
VOWEL_INDICES = [POSE_INDEX[name] for name in VOWELS]
OTHER_INDICES = [i for i in range(len(POSE_NAMES)) if i not in VOWEL_INDICES]
FRAMES = random_arkit_frames(1000, seed=5)


def as_vector(params: dict[str, float]) -> np.ndarray:
    vector = np.zeros(len(POSE_NAMES))
    for name, value in params.items():
        vector[POSE_INDEX[name]] = value
    return vector


@pytest.fixture(scope="module")
def exact_reference() -> np.ndarray:
    return np.array([as_vector(reference_pose(frame, mouth_fit_exact)) for frame in FRAMES])


@pytest.mark.parametrize(
    ("file", "as_sent"),
    [("ifacialmocap.toml", lambda frame: frame), ("vmc_perfect_sync.toml", as_vmc_angles)],
    ids=["ifacialmocap", "vmc_perfect_sync"],
)
def test_arkit_mapping_matches_reference_converter(file, as_sent, exact_reference):
    """Each file gets the face as its sender reports it, and must pose it as the demo does."""
    mapping = load_mapping(MAPPINGS / file)
    ours = np.array([mapping.evaluate(as_sent(frame)) for frame in FRAMES])
    delta = np.abs(ours - exact_reference)
    assert delta[:, OTHER_INDICES].max() <= 0.01, POSE_NAMES[int(delta.max(axis=0).argmax())]
    assert delta[:, VOWEL_INDICES].max() <= 0.05
    # The inputs really exercise the branches: closed and open mouths, smiles on and off.
    open_mouth = np.array([mouth_target(f) is not None for f in FRAMES])
    assert 50 < (~open_mouth).sum() < 950
    assert ours[:, POSE_INDEX["mouth_lowered_corner_left"]][~open_mouth].max() > 0.5
    assert (
        ours[:, POSE_INDEX["eye_happy_wink_left"]].max() > 0.5
        and ours[:, POSE_INDEX["eye_wink_left"]].max() > 0.5
    )


def test_vowels_match_the_demos_own_optimiser_where_it_converges():
    """The demo runs L-BFGS-B from w = 0 each frame; on a non-smooth cost it often stops early.

    Our fit is never worse than it, and where it did reach the optimum both agree within 0.05.
    """
    mapping = load_mapping(MAPPINGS / "ifacialmocap.toml")
    fit = mapping.blocks["mouth"].solver
    converged = compared = 0
    for frame in FRAMES[:150]:
        target = mouth_target(frame)
        if target is None:
            continue
        compared += 1
        ours = np.array(fit.solve(target))
        demo = mouth_fit_lbfgsb(target)
        best = mouth_fit_exact(target)
        assert mouth_cost(ours, target) <= mouth_cost(demo, target) + 1e-9
        if mouth_cost(demo, target) <= mouth_cost(best, target) + 1e-6:
            converged += 1
            ours_pose = as_vector(reference_pose(frame, lambda v, w=ours: w))
            demo_pose = as_vector(reference_pose(frame, lambda v, w=demo: w))
            assert np.abs(ours_pose - demo_pose)[VOWEL_INDICES].max() <= 0.05
    assert converged >= 0.8 * compared


def test_vowel_fit_is_exact_on_random_targets():
    fit = VowelFit(VOWEL_SHAPES, L1)
    rng = np.random.default_rng(11)
    for target in rng.uniform(-0.2, 1.2, size=(1000, 4)):
        ours = np.array(fit.solve(target))
        assert np.abs(ours - mouth_fit_exact(target)).max() <= 1e-6
        assert ours.min() >= 0.0 and ours.max() <= 1.0


def test_vowel_fit_beats_random_feasible_points():
    fit = VowelFit(VOWEL_SHAPES, L1)
    rng = np.random.default_rng(3)
    for target in rng.random((50, 4)):
        best = mouth_cost(np.array(fit.solve(target)), target)
        others = rng.random((2000, 4))
        costs = np.linalg.norm(others @ VOWEL_SHAPES - target, axis=1) + L1 * others.sum(axis=1)
        assert best <= costs.min() + 1e-12
