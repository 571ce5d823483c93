"""The layers of docs/architecture.md, checked on the source: arrows point down, never up, and
library code never imports command-line code."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ezvtb_node"
FOUNDATION = {
    "channels", "pose", "endpoints", "paths", "progress", "character", "onnxruntime_packages", "textfiles",
    "install_hints",
    "__init__",
}
ELEMENTS = {"inputs", "mapping", "core", "outputs"}
APPLICATION = {"app", "doctor"}


def modules() -> dict[str, set[str]]:
    """Module name (dotted, without the package) → the ezvtb_node modules it imports."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        imports = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ezvtb_node"):
                imports.add(node.module.removeprefix("ezvtb_node").lstrip("."))
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("ezvtb_node.")]
                imports |= {name.removeprefix("ezvtb_node.") for name in names}
        found[name] = {i for i in imports if i}
    return found


def is_cli(module: str) -> bool:
    return module == "cli" or module.split(".")[-1] in ("commands", "voice_commands")


def top(module: str) -> str:
    return module.split(".")[0]


MODULES = modules()
LIBRARY = sorted(m for m in MODULES if not is_cli(m))


@pytest.mark.parametrize("module", LIBRARY)
def test_library_code_never_imports_command_line_code(module):
    assert not [i for i in MODULES[module] if is_cli(i)]


@pytest.mark.parametrize("module", sorted(m for m in LIBRARY if top(m) in FOUNDATION))
def test_the_foundation_imports_no_other_layer(module):
    assert {top(i) for i in MODULES[module]} <= FOUNDATION


@pytest.mark.parametrize("module", sorted(m for m in LIBRARY if top(m) in ELEMENTS))
def test_elements_import_only_the_foundation_and_themselves(module):
    assert {top(i) for i in MODULES[module]} <= FOUNDATION | {top(module)}


@pytest.mark.parametrize("module", sorted(m for m in LIBRARY if m.startswith("core.models")))
def test_model_files_code_never_imports_the_code_that_runs_them(module):
    assert all(i.startswith("core.models") or top(i) in FOUNDATION for i in MODULES[module])


def test_the_layers_cover_every_module():
    assert {top(m) for m in MODULES} <= FOUNDATION | ELEMENTS | APPLICATION | {"cli"}
    assert MODULES["app.node"] and MODULES["doctor.__init__"]  # the scan found the imports
