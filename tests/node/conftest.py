import dataclasses
import warnings

import pytest

from ezvtb_node.core import Core
from tests.core.tiny_engine import write_tiny_engine


@pytest.fixture(scope="session")
def tiny_core_factory(tmp_path_factory):
    engine = write_tiny_engine(tmp_path_factory.mktemp("tiny"))

    def factory(options):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return Core(dataclasses.replace(options, model_dir=str(engine)))

    return factory
