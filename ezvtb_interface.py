"""Compatibility module: the seed's examples do ``from ezvtb_interface import get_core``."""

from ezvtb_node.core import get_core

__all__ = ["get_core"]
