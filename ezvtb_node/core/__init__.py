"""The render core: ``get_core(**options)`` → ``Core`` with ``setImage`` / ``inference``."""

from ezvtb_node.core.core import Core, get_core
from ezvtb_node.core.options import CoreOptions

__all__ = ["Core", "CoreOptions", "get_core"]
