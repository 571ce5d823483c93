"""Tracking channels → THA3 pose: mapping files, their evaluation and post-processing."""

from ezvtb_node.mapping.mapper import CALIBRATE_HTTP_PATH, CALIBRATE_OSC_ADDRESS, Mapper
from ezvtb_node.mapping.mapping import Mapping, load_mapping
from ezvtb_node.mapping.schema import MappingError

__all__ = [
    "CALIBRATE_HTTP_PATH",
    "CALIBRATE_OSC_ADDRESS",
    "Mapper",
    "Mapping",
    "MappingError",
    "load_mapping",
]
