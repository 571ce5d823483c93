"""The result of one doctor check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """``status``: ok (fine), warn (works, but slower or with less), fail (the node will not work).

    ``fix`` says what to do; empty when there is nothing to do.
    """

    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)
