"""Suite-wide set-up: child Python processes import the same ezvtb_node as the tests do."""

from __future__ import annotations

import os
from pathlib import Path

# Tests start scripts (tests/cacher/cacher_child.py, examples/*.py) with sys.executable. A script's
# own folder, not the working directory, heads its sys.path, so without this a child would import
# whichever ezvtb_node the environment has installed (an editable install may point at another
# checkout) while the test process imports this checkout's: the two could disagree.
ROOT = Path(__file__).resolve().parents[1]
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
