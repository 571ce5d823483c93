"""Every example in mappings/README.md: each TOML block is loaded and its text block checked."""

import re

import pytest

from ezvtb_node.mapping.mapper import Mapper
from ezvtb_node.mapping.schema import MappingError
from ezvtb_node.pose import POSE_INDEX

from .conftest import MAPPINGS

_BLOCK = re.compile(r"```toml\n(.*?)```\s*```text\n(.*?)```", re.S)
_FRAME = re.compile(r"^(?:at (?P<t>[0-9.]+) s: )?(?P<inputs>.+?) → (?P<outputs>.+)$")
_ERROR = re.compile(r"^error at line (?P<line>\d+): (?P<message>.+)$")


def examples() -> list[tuple[str, str]]:
    text = (MAPPINGS / "README.md").read_text(encoding="utf-8")
    found = _BLOCK.findall(text)
    assert len(found) == text.count("```toml"), "every TOML example needs a text block of expectations"
    return found


def pairs(text: str) -> dict[str, float]:
    if text.strip() in ("nothing", "lost"):
        return {}
    return {name.strip(): float(value) for name, value in (item.split("=") for item in text.split(", "))}


def test_readme_has_examples():
    assert len(examples()) >= 15


@pytest.mark.parametrize(("toml", "expectations"), examples(), ids=lambda s: s.strip().splitlines()[0][:40])
def test_readme_example(tmp_path, toml, expectations):
    path = tmp_path / "example.toml"
    path.write_text(toml, encoding="utf-8")
    lines = [line for line in expectations.splitlines() if line.strip()]
    error = _ERROR.match(lines[0])
    if error:
        with pytest.raises(MappingError) as caught:
            Mapper(path)
        assert caught.value.line == int(error["line"])
        assert str(caught.value) == f"{path}:{error['line']}: {error['message']}"
        return
    mapper = Mapper(path, filters=False)
    t = 0.0
    for number, line in enumerate(lines):
        frame = _FRAME.match(line)
        assert frame, f"cannot read example line {line!r}"
        t = float(frame["t"]) if frame["t"] else (t + 1 / 60 if number else 0.0)
        pose = mapper.update(pairs(frame["inputs"]), t, lost=frame["inputs"].strip() == "lost")[0]
        for name, expected in pairs(frame["outputs"]).items():
            assert pose[POSE_INDEX[name]] == pytest.approx(expected, abs=1e-3), f"{line}: {name}"
