import numpy as np
import pytest

from tests.core.tiny_engine import write_tiny_engine


@pytest.fixture(scope="session")
def tiny_engine_dir(tmp_path_factory):
    return write_tiny_engine(tmp_path_factory.mktemp("tiny-engine"))


@pytest.fixture
def character() -> np.ndarray:
    """A synthetic BGRA character: an opaque gradient disc on a transparent background."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:512, 0:512]
    image = np.zeros((512, 512, 4), np.uint8)
    inside = (yy - 256) ** 2 + (xx - 256) ** 2 < 200**2
    image[..., 0] = (xx // 2).astype(np.uint8)
    image[..., 1] = (yy // 2).astype(np.uint8)
    image[..., 2] = rng.integers(0, 60, (512, 512), dtype=np.uint8)
    image[..., 3] = np.where(inside, 255, 0)
    return image
