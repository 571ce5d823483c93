"""Progress bars for long jobs (engine builds, cache warming): tqdm on stderr, silent when stderr
is not a terminal (CI logs, pipes) or when the caller turns them off."""

from __future__ import annotations

from tqdm import tqdm


def progress_bar(title: str, total: int | None, enabled: bool = True, unit: str = "step") -> tqdm:
    """A bar of ``total`` steps; ``disable=None`` is tqdm's switch for "only on a terminal"."""
    return tqdm(total=total, desc=title, unit=unit, disable=None if enabled else True, leave=True)
