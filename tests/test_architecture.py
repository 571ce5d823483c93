"""The layers of docs/architecture.md, checked on the source: arrows point down, never up, there are
no import cycles, library code never imports command-line code; and the page itself stays true: its
layer table is the one enforced here, and it names every module of the package."""

import ast
import graphlib
import re
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ezvtb_node"
ARCHITECTURE_PAGE = ROOT / "docs" / "architecture.md"


class Layer(NamedTuple):
    holds: frozenset[str]  # top-level packages and modules (command line: module names in any package)
    may_import: frozenset[str]  # layers its modules may import, besides their own package


def layer(holds: str, may_import: str) -> Layer:
    return Layer(frozenset(holds.split()), frozenset(may_import.split(", ")))


# Top to bottom, as in the table of docs/architecture.md (test below: the two must agree).
LAYERS = {
    "command line": layer(
        "cli commands", "command line, diagnostics, application, elements, foundation"
    ),
    "diagnostics": layer("doctor", "application, elements, foundation"),
    "application": layer("app", "elements, foundation"),
    "elements": layer("inputs mapping core outputs", "foundation"),
    "foundation": layer(
        "__init__ channels sources pose endpoints paths progress character onnxruntime_packages tomlcompat "
        "percentiles textfiles install_hints",
        "foundation",
    ),
}


def module_of(dotted: str) -> str | None:
    """The module a dotted name (without the package) stands for: a package is its __init__."""
    path = PACKAGE.joinpath(*dotted.split(".")) if dotted else PACKAGE
    if path.is_dir():
        return f"{dotted}.__init__" if dotted else "__init__"
    return dotted if path.with_suffix(".py").is_file() else None


def imported_modules(tree: ast.AST) -> set[str]:
    """The ezvtb_node modules a module's code imports (at the top or inside functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ezvtb_node":
            base = node.module.removeprefix("ezvtb_node").lstrip(".")
            for alias in node.names:  # `from package import module` imports that module
                found.add(module_of(f"{base}.{alias.name}".lstrip(".")) or module_of(base))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ezvtb_node."):
                    found.add(module_of(alias.name.removeprefix("ezvtb_node.")))
    return {name for name in found if name}


def modules() -> dict[str, set[str]]:
    """Module name (dotted, without the package; a package is its __init__) → the modules it imports."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        found[name] = imported_modules(ast.parse(path.read_text(encoding="utf-8")))
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def layer_of(module: str) -> str | None:
    if module.split(".")[-1] in LAYERS["command line"].holds:
        return "command line"
    return next((name for name, layer in LAYERS.items() if top(module) in layer.holds), None)


MODULES = modules()
LIBRARY = sorted(m for m in MODULES if layer_of(m) != "command line")


@pytest.mark.parametrize("module", LIBRARY)
def test_library_code_never_imports_command_line_code(module):
    assert not [i for i in MODULES[module] if layer_of(i) == "command line"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_package_and_the_layers_its_layer_may_import(module):
    own = layer_of(module)

    def allowed(imported: str) -> bool:
        same_package = top(imported) == top(module) and layer_of(imported) == own
        return same_package or layer_of(imported) in LAYERS[own].may_import

    assert [i for i in sorted(MODULES[module]) if not allowed(i)] == []


@pytest.mark.parametrize("module", sorted(m for m in LIBRARY if m.startswith("core.models")))
def test_model_files_code_never_imports_the_code_that_runs_them(module):
    assert all(i.startswith("core.models") or layer_of(i) == "foundation" for i in MODULES[module])


def test_no_module_imports_itself_back_through_others():
    try:
        graphlib.TopologicalSorter(MODULES).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' → '.join(exc.args[1])}")


def test_arrows_point_down_a_layer_may_import_only_itself_and_the_layers_below_it():
    names = list(LAYERS)
    for index, (name, layer) in enumerate(LAYERS.items()):
        assert layer.may_import <= set(names[index:]), name


def test_the_layers_cover_every_module():
    assert [m for m in MODULES if layer_of(m) is None] == []
    assert MODULES["app.node"] and MODULES["doctor.__init__"]  # the scan found the imports
    assert "sources" in MODULES["mapping.bundled"]  # and `from ezvtb_node import <module>`
    assert "core.backends.onnxruntime" in MODULES["core.backends.selection"]  # `from <package> import`


def page_section(title: str) -> list[str]:
    """The lines of one `## title` section of docs/architecture.md."""
    text = ARCHITECTURE_PAGE.read_text(encoding="utf-8")
    section = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, f"docs/architecture.md has no '## {title}' section"
    return section.group(1).splitlines()


def page_layers() -> dict[str, Layer]:
    """The layer table of the page: | layer | packages (in backticks) | may import (layer names) |."""
    rows = [line for line in page_section("Layers") if line.startswith("|")][2:]  # after header, rule
    table = {}
    for row in rows:
        name, holds, may_import = (cell.strip() for cell in row.strip("|").split("|"))
        names = {re.sub(r"(\.py|/)$", "", token) for token in re.findall(r"`([^`]+)`", holds)}
        table[name] = Layer(frozenset(names), frozenset(may_import.split(", ")))
    return table


def page_modules() -> set[str]:
    """The modules the page's "One job per module" list names: each bullet that starts with a
    backticked `name.py` (a module) or `name/` (a package: its __init__), inside the packages of
    the bullets it is nested in."""
    named = set()
    parents: list[tuple[int, str]] = []  # (indent, folder) of the bullets above this one
    for line in page_section("One job per module"):
        bullet = re.match(r"( *)- `([^`]+)`", line)
        if not bullet:
            continue
        indent, subject = len(bullet.group(1)), bullet.group(2)
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = "".join(folder for _, folder in parents) + subject
        if subject.endswith("/"):
            parents.append((indent, subject))
            named.add(".".join([*path.strip("/").split("/"), "__init__"]))
        else:
            named.add(path.removesuffix(".py").replace("/", "."))
    return named


def test_the_layer_table_on_the_architecture_page_is_the_one_enforced_here():
    table = page_layers()
    assert list(table) == list(LAYERS)  # the same layers, top to bottom
    for name, layer in LAYERS.items():
        assert table[name] == layer, name


def test_every_module_of_the_package_has_a_line_on_the_architecture_page():
    assert sorted(set(MODULES) - page_modules()) == []


def test_every_module_the_architecture_page_names_exists():
    assert sorted(page_modules() - set(MODULES)) == []
