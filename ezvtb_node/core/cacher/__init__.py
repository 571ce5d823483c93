"""Frame cacher: finished THA3 frames by quantized pose, in RAM and in a persistent SQLite file.

Public API: :class:`FrameCacher`, :class:`Quantization`, :func:`image_digest`, :func:`warm`,
:class:`CacheError`, :func:`default_db_path`. See docs/cacher.md.
"""

from ezvtb_node.core.cacher.frame_cacher import DEFAULT_DB_SIZE_GB, FrameCacher, default_db_path
from ezvtb_node.core.cacher.keys import Quantization, image_digest
from ezvtb_node.core.cacher.sqlite_store import CacheError
from ezvtb_node.core.cacher.warm import warm

__all__ = [
    "DEFAULT_DB_SIZE_GB",
    "CacheError",
    "FrameCacher",
    "Quantization",
    "default_db_path",
    "image_digest",
    "warm",
]
