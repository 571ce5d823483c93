"""Mapping files: load and validate a TOML mapping, then evaluate it on tracking channels.

A mapping is a small data-flow graph. Its nodes are *definitions* (named values in ``[values]``
and THA3 parameters in ``[pose]``), each a weighted sum of channels or other nodes followed by a
fixed chain of operations, and *blocks* (``[blocks.NAME]``) for what a formula cannot say well,
such as the vowel fit of the mouth. Nothing in the file is executed as code: it is compiled into
plain tuples that a short interpreter loop walks in dependency order.

Operation order inside one definition (documented in mappings/README.md):
    sum (or max) → dead_zone → scale → offset → ramp → clamp → above → gate → unless
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ezvtb_node.channels import KNOWN_CHANNELS
from ezvtb_node.mapping.schema import MappingError, TableReader, describe, suggestion
from ezvtb_node.mapping.settings import PostSettings, read_post_settings
from ezvtb_node.mapping.tomllines import TomlSyntaxError, load_toml_with_lines
from ezvtb_node.mapping.vowelfit import VowelFit, VowelFitError
from ezvtb_node.pose import POSE_INDEX, POSE_MAX, POSE_MIN, POSE_NAMES, POSE_SIZE
from ezvtb_node.textfiles import TextFileError

FORMAT_VERSION = 1
TOP_LEVEL_TABLES = (
    "mapping", "values", "blocks", "pose", "filters", "quantize", "breathing", "auto_blink", "idle",
    "calibration",
)  # fmt: skip
DEFINITION_KEYS = (
    "from", "sum", "max", "const", "dead_zone", "scale", "offset", "ramp", "to", "clamp", "above", "gate",
    "unless", "mirror",
)  # fmt: skip
BLOCK_KEYS = ("solver", "inputs", "shapes", "l1_weight", "when")
BLOCK_SOLVERS = ("vowel_fit",)
_VALUE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SIDE_SUFFIXES = (("Left", "Right"), ("_left", "_right"), ("_L", "_R"))


def swap_side(name: str) -> str:
    """The other side's name (``eyeBlinkLeft`` ↔ ``eyeBlinkRight``, ``vrm.Blink_L`` ↔ ``vrm.Blink_R``)."""
    for left, right in _SIDE_SUFFIXES:
        if name.endswith(left):
            return name[: -len(left)] + right
        if name.endswith(right):
            return name[: -len(right)] + left
    for left, right in (("eye.left.", "eye.right."),):
        if name.startswith(left):
            return right + name[len(left) :]
        if name.startswith(right):
            return left + name[len(right) :]
    return name


@dataclass(frozen=True)
class Definition:
    """One named value or pose parameter, as written (after mirroring)."""

    name: str
    key: tuple[str, ...]  # where it is in the file, for errors
    terms: tuple[tuple[str, float], ...]
    const: float = 0.0
    largest: bool = False  # combine the weighted terms by max instead of sum (the `max` key)
    dead_zone: float = 0.0
    scale: float = 1.0
    offset: float = 0.0
    ramp: tuple[float, float] | None = None
    to: tuple[float, float] = (0.0, 1.0)
    clamp: tuple[float, float] | None = None
    above: float | None = None
    gate: str | None = None
    unless: str | None = None

    def references(self) -> list[str]:
        names = [name for name, _ in self.terms]
        return names + [name for name in (self.gate, self.unless) if name is not None]


@dataclass(frozen=True)
class Block:
    """A built-in solver: reads ``inputs``, produces ``NAME.<output>`` values."""

    name: str
    key: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    solver: VowelFit
    when: str | None

    def references(self) -> list[str]:
        return list(self.inputs) + ([self.when] if self.when else [])


class _Step(NamedTuple):
    """A definition compiled to slots and folded constants: x·a + b, clipped to [lo, hi]."""

    out: int
    terms: tuple[tuple[int, float], ...]
    const: float
    largest: bool
    dead_zone: float
    a: float
    b: float
    lo: float
    hi: float
    above: float | None
    gates: tuple[tuple[int, bool], ...]  # (slot, inverted)


@dataclass(frozen=True)
class _BlockStep:
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    when: int | None
    solver: VowelFit


@dataclass
class Mapping:
    """A validated, compiled mapping file. :meth:`evaluate` turns channels into 45 raw pose values."""

    path: Path
    description: str
    channels: tuple[str, ...]  # the channels the file reads, in slot order
    definitions: dict[str, Definition]
    blocks: dict[str, Block]
    settings: PostSettings
    mirror: bool
    _program: list[tuple[_Step, ...] | _BlockStep] = field(repr=False)
    _pose_slots: tuple[int, ...] = field(repr=False)  # slot of each of the 45 parameters, in pose order
    _blank_slots: list[float] = field(repr=False)  # the computed slots plus one that stays 0.0

    def evaluate(self, channels: dict[str, float]) -> np.ndarray:
        """The raw pose (45,) float64 from one frame of channels; missing channels read 0."""
        return self.evaluate_values([channels.get(name, 0.0) for name in self.channels])

    def evaluate_values(self, channel_values: list[float]) -> np.ndarray:
        """Like :meth:`evaluate`, with channel values already in :attr:`channels` order."""
        slots = channel_values + self._blank_slots
        for segment in self._program:
            if isinstance(segment, _BlockStep):
                _run_block(segment, slots)
            else:
                _run_steps(segment, slots)
        pose = np.array([slots[slot] for slot in self._pose_slots])
        if self.mirror:
            pose *= _MIRROR_SIGN
        np.maximum(pose, POSE_MIN, out=pose)
        return np.minimum(pose, POSE_MAX, out=pose)


def _run_steps(steps: tuple[_Step, ...], slots: list[float]) -> None:
    # The hot loop of the node's mapping stage: tuple unpacking and plain floats, no allocation.
    for out, terms, const, largest, dead_zone, a, b, lo, hi, above, gates in steps:
        if largest:
            x = -np.inf
            for slot, weight in terms:
                term = slots[slot] * weight
                if term > x:
                    x = term
        else:
            x = const
            for slot, weight in terms:
                x += slots[slot] * weight
        if dead_zone:
            x = x - dead_zone if x > dead_zone else (x + dead_zone if x < -dead_zone else 0.0)
        x = x * a + b
        if x < lo:
            x = lo
        elif x > hi:
            x = hi
        if above is not None:
            x = 1.0 if x > above else 0.0
        for slot, inverted in gates:
            x *= (1.0 - slots[slot]) if inverted else slots[slot]
        slots[out] = x


def _run_block(block: _BlockStep, slots: list[float]) -> None:
    if block.when is not None and slots[block.when] <= 0.0:
        for slot in block.outputs:
            slots[slot] = 0.0
        return
    weights = block.solver.solve([slots[slot] for slot in block.inputs])
    for slot, weight in zip(block.outputs, weights, strict=True):
        slots[slot] = weight


def _mirror_tables() -> tuple[np.ndarray, np.ndarray]:
    order = np.array([POSE_INDEX[swap_side(name)] for name in POSE_NAMES])
    # Directions that flip in a mirror image: yaw and roll of head and body, horizontal gaze.
    flipped = ("iris_rotation_y", "head_y", "neck_z", "body_y", "body_z")
    sign = np.array([-1.0 if name in flipped else 1.0 for name in POSE_NAMES])
    return order, sign


_MIRROR_ORDER, _MIRROR_SIGN = _mirror_tables()


# ----------------------------------------------------------------------------------------- loading


class _Loader:
    def __init__(self, path: Path, data: dict[str, Any], lines: dict[tuple[str, ...], int]) -> None:
        self.path = path
        self.data = data
        self.read = TableReader(path, lines)
        self.extra_channels: frozenset[str] = frozenset()

    def load(self) -> Mapping:
        read = self.read
        read.known_keys(self.data, (), TOP_LEVEL_TABLES)
        header = read.table(self.data.get("mapping", {}), ("mapping",))
        read.known_keys(header, ("mapping",), ("format", "description", "mirror", "extra_channels"))
        version = header.get("format", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise read.error(
                ("mapping", "format"), f"expected format = {FORMAT_VERSION}, got {describe(version)}"
            )
        description = read.string(header.get("description", ""), ("mapping", "description"))
        mirror = read.boolean(header.get("mirror", False), ("mapping", "mirror"))
        if "extra_channels" in header:
            extra = read.strings(header["extra_channels"], ("mapping", "extra_channels"))
            for name in extra:
                if not name.startswith("vrm."):
                    raise read.error(
                        ("mapping", "extra_channels"),
                        f"extra channels are VRM clips named 'vrm.<Name>', got '{name}'",
                    )
            self.extra_channels = frozenset(extra)

        values = read.table(self.data.get("values", {}), ("values",))
        pose = read.table(self.data.get("pose", {}), ("pose",))
        for name in values:
            self._check_value_name(name)
        for name in pose:
            if name not in POSE_INDEX:
                raise read.error(
                    ("pose", name), f"unknown THA3 parameter '{name}'{suggestion(name, POSE_NAMES)}"
                )

        raw = {name: (("values", name), spec) for name, spec in values.items()}
        raw.update({name: (("pose", name), spec) for name, spec in pose.items()})
        definitions = {name: self._definition(name, key, spec, raw) for name, (key, spec) in raw.items()}
        blocks = {
            name: self._block(name, spec)
            for name, spec in read.table(self.data.get("blocks", {}), ("blocks",)).items()
        }
        self._check_references(definitions, blocks)
        order = self._dependency_order(definitions, blocks)
        settings = read_post_settings(read, self.data)
        return _compile(self.path, description, mirror, definitions, blocks, order, settings)

    def _check_value_name(self, name: str) -> None:
        key = ("values", name)
        if not _VALUE_NAME.match(name):
            # Channels are camelCase or dotted, so this also keeps values from shadowing channels.
            raise self.read.error(key, f"value names are lower_case_with_underscores, got '{name}'")
        if name in POSE_INDEX:
            raise self.read.error(key, f"'{name}' is a THA3 parameter: define it under [pose]")

    def _definition(
        self, name: str, key: tuple[str, ...], spec: Any, raw: dict[str, tuple[tuple[str, ...], Any]]
    ) -> Definition:
        read = self.read
        spec = read.table(spec, key)
        read.known_keys(spec, key, DEFINITION_KEYS)
        if "mirror" in spec:
            return self._mirrored(name, key, spec, raw)
        sources = [k for k in ("from", "sum", "max", "const") if k in spec]
        if len(sources) > 1:
            raise read.error(key, f"give one of 'from', 'sum', 'max' or 'const', got {' and '.join(sources)}")
        const = read.number(spec.get("const", 0.0), (*key, "const"))
        if "from" in spec:
            terms: tuple[tuple[str, float], ...] = ((read.string(spec["from"], (*key, "from")), 1.0),)
        elif "sum" in spec or "max" in spec:
            kind = "sum" if "sum" in spec else "max"
            weights = read.table(spec[kind], (*key, kind))
            if not weights:
                raise read.error(
                    (*key, kind), "expected at least one 'name = weight' entry, got an empty table"
                )
            terms = tuple((source, read.number(w, (*key, kind, source))) for source, w in weights.items())
        elif "const" in spec:
            terms = ()
        else:
            raise read.error(
                key,
                "expected an input: 'from = \"name\"', 'sum = { name = weight, ... }', "
                "'max = { name = weight, ... }' or 'const = number'",
            )

        ramp = read.pair(spec["ramp"], (*key, "ramp")) if "ramp" in spec else None
        if ramp is not None and ramp[0] == ramp[1]:
            raise read.error(
                (*key, "ramp"), f"expected two different thresholds, got [{ramp[0]:g}, {ramp[1]:g}]"
            )
        if "to" in spec and ramp is None:
            raise read.error((*key, "to"), "'to' sets the output range of a 'ramp'; add ramp = [low, high]")
        to = read.pair(spec["to"], (*key, "to")) if "to" in spec else (0.0, 1.0)
        clamp = read.pair(spec["clamp"], (*key, "clamp")) if "clamp" in spec else None
        if clamp is not None and clamp[0] > clamp[1]:
            raise read.error(
                (*key, "clamp"), f"expected [low, high] with low <= high, got [{clamp[0]:g}, {clamp[1]:g}]"
            )
        if clamp is not None and ramp is not None and (clamp[1] < min(to) or clamp[0] > max(to)):
            raise read.error(
                (*key, "clamp"), f"clamp {list(clamp)} does not overlap the ramp's output range {list(to)}"
            )
        return Definition(
            name=name,
            key=key,
            terms=terms,
            const=const,
            largest="max" in spec,
            dead_zone=read.number(spec.get("dead_zone", 0.0), (*key, "dead_zone"), 0),
            scale=read.number(spec.get("scale", 1.0), (*key, "scale")),
            offset=read.number(spec.get("offset", 0.0), (*key, "offset")),
            ramp=ramp,
            to=to,
            clamp=clamp,
            above=read.number(spec["above"], (*key, "above")) if "above" in spec else None,
            gate=read.string(spec["gate"], (*key, "gate")) if "gate" in spec else None,
            unless=read.string(spec["unless"], (*key, "unless")) if "unless" in spec else None,
        )

    def _mirrored(
        self,
        name: str,
        key: tuple[str, ...],
        spec: dict[str, Any],
        raw: dict[str, tuple[tuple[str, ...], Any]],
    ) -> Definition:
        read = self.read
        if len(spec) > 1:
            others = ", ".join(k for k in spec if k != "mirror")
            raise read.error(key, f"'mirror' copies another definition whole; remove {others}")
        source = read.string(spec["mirror"], (*key, "mirror"))
        if source not in raw:
            raise read.error((*key, "mirror"), f"nothing named '{source}' to mirror{suggestion(source, raw)}")
        source_key, source_spec = raw[source]
        if isinstance(source_spec, dict) and "mirror" in source_spec:
            raise read.error((*key, "mirror"), f"'{source}' is itself a mirror; mirror its source instead")
        original = self._definition(source, source_key, source_spec, raw)
        return Definition(
            name=name,
            key=key,
            terms=tuple((swap_side(source_name), weight) for source_name, weight in original.terms),
            const=original.const,
            largest=original.largest,
            dead_zone=original.dead_zone,
            scale=original.scale,
            offset=original.offset,
            ramp=original.ramp,
            to=original.to,
            clamp=original.clamp,
            above=original.above,
            gate=swap_side(original.gate) if original.gate else None,
            unless=swap_side(original.unless) if original.unless else None,
        )

    def _block(self, name: str, spec: Any) -> Block:
        read = self.read
        key = ("blocks", name)
        if not _VALUE_NAME.match(name):
            raise read.error(key, f"block names are lower_case_with_underscores, got '{name}'")
        spec = read.table(spec, key)
        read.known_keys(spec, key, BLOCK_KEYS)
        solver = read.string(spec.get("solver", ""), (*key, "solver"))
        if solver not in BLOCK_SOLVERS:
            raise read.error(
                (*key, "solver"),
                f"unknown solver '{solver}'{suggestion(solver, BLOCK_SOLVERS)}; "
                f"known: {', '.join(BLOCK_SOLVERS)}",
            )
        for required in ("inputs", "shapes"):
            if required not in spec:
                raise read.error(key, f"a {solver} block needs '{required}'")
        inputs = tuple(read.strings(spec["inputs"], (*key, "inputs")))
        shapes = read.table(spec["shapes"], (*key, "shapes"))
        if not shapes:
            raise read.error((*key, "shapes"), "expected at least one 'name = [numbers]' shape")
        rows = []
        for shape, row in shapes.items():
            values = read.numbers(row, (*key, "shapes", shape))
            if len(values) != len(inputs):
                raise read.error(
                    (*key, "shapes", shape),
                    f"expected {len(inputs)} numbers (one per input), got {len(values)}",
                )
            rows.append(values)
        l1_weight = read.number(spec.get("l1_weight", 0.0), (*key, "l1_weight"), 0)
        try:
            fit = VowelFit(np.array(rows), l1_weight)
        except VowelFitError as exc:
            raise read.error((*key, "shapes"), str(exc)) from exc
        when = read.string(spec["when"], (*key, "when")) if "when" in spec else None
        return Block(name, key, inputs, tuple(f"{name}.{shape}" for shape in shapes), fit, when)

    def _is_channel(self, name: str) -> bool:
        return name in KNOWN_CHANNELS or name in self.extra_channels

    def _check_references(self, definitions: dict[str, Definition], blocks: dict[str, Block]) -> None:
        outputs = {output for block in blocks.values() for output in block.outputs}
        known = set(definitions) | outputs
        everything = known | KNOWN_CHANNELS | self.extra_channels
        nodes: list[tuple[tuple[str, ...], list[str]]] = [
            (d.key, d.references()) for d in definitions.values()
        ]
        nodes += [(b.key, b.references()) for b in blocks.values()]
        for key, references in nodes:
            for name in references:
                if name in known or self._is_channel(name):
                    continue
                if name.startswith("vrm."):
                    hint = " (custom VRM clips go in [mapping] extra_channels)"
                else:
                    hint = suggestion(name, everything)
                raise self.read.error(key, f"unknown channel or value '{name}'{hint}")

    def _dependency_order(self, definitions: dict[str, Definition], blocks: dict[str, Block]) -> list[str]:
        """Definitions and blocks in evaluation order; a cycle is an error naming its path."""
        owner = {output: f"blocks.{name}" for name, block in blocks.items() for output in block.outputs}
        graph: dict[str, list[str]] = {}
        keys: dict[str, tuple[str, ...]] = {}
        for name, definition in definitions.items():
            graph[name] = [
                owner.get(ref, ref) for ref in definition.references() if not self._is_channel(ref)
            ]
            keys[name] = definition.key
        for name, block in blocks.items():
            graph[f"blocks.{name}"] = [
                owner.get(ref, ref) for ref in block.references() if not self._is_channel(ref)
            ]
            keys[f"blocks.{name}"] = block.key

        order: list[str] = []
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        for start in graph:
            if state.get(start) == 2:
                continue
            path = [start]
            stack = [iter(graph[start])]
            state[start] = 1
            while stack:
                node = next(stack[-1], None)
                if node is None:
                    stack.pop()
                    done = path.pop()
                    state[done] = 2
                    order.append(done)
                    continue
                if state.get(node) == 1:
                    cycle = [*path[path.index(node) :], node]
                    raise self.read.error(keys[node], f"cycle between values: {' → '.join(cycle)}")
                if state.get(node) != 2:
                    state[node] = 1
                    path.append(node)
                    stack.append(iter(graph[node]))
        return order


def _compile(
    path: Path,
    description: str,
    mirror: bool,
    definitions: dict[str, Definition],
    blocks: dict[str, Block],
    order: list[str],
    settings: PostSettings,
) -> Mapping:
    block_outputs = {output for block in blocks.values() for output in block.outputs}
    channels = sorted(
        {
            ref
            for node in [*definitions.values(), *blocks.values()]
            for ref in node.references()
            if ref not in definitions and ref not in block_outputs
        }
    )
    slot = {name: i for i, name in enumerate(channels)}
    for name in order:
        if name.startswith("blocks."):
            for output in blocks[name.removeprefix("blocks.")].outputs:
                slot[output] = len(slot)
        else:
            slot[name] = len(slot)

    program: list[tuple[_Step, ...] | _BlockStep] = []
    run: list[_Step] = []
    for name in order:
        if name.startswith("blocks."):
            block = blocks[name.removeprefix("blocks.")]
            if run:
                program.append(tuple(run))
                run = []
            program.append(
                _BlockStep(
                    inputs=tuple(slot[n] for n in block.inputs),
                    outputs=tuple(slot[n] for n in block.outputs),
                    when=slot[block.when] if block.when else None,
                    solver=block.solver,
                )
            )
        else:
            run.append(_fold(definitions[name], slot))
    if run:
        program.append(tuple(run))

    unset = len(slot)  # parameters nobody defines read this slot, which stays 0.0
    order_45 = _MIRROR_ORDER if mirror else range(POSE_SIZE)
    return Mapping(
        path=path,
        description=description,
        channels=tuple(channels),
        definitions=definitions,
        blocks=blocks,
        settings=settings,
        mirror=mirror,
        _program=program,
        _pose_slots=tuple(slot.get(POSE_NAMES[i], unset) for i in order_45),
        _blank_slots=[0.0] * (unset + 1 - len(channels)),
    )


def _fold(definition: Definition, slot: dict[str, int]) -> _Step:
    """Fold scale, offset and ramp into one x·a + b and the ramp's range and clamp into one clip."""
    a, b = definition.scale, definition.offset
    lo, hi = -np.inf, np.inf
    if definition.ramp is not None:
        (r0, r1), (t0, t1) = definition.ramp, definition.to
        k = (t1 - t0) / (r1 - r0)
        a, b = a * k, t0 + (b - r0) * k
        lo, hi = min(t0, t1), max(t0, t1)
    if definition.clamp is not None:
        lo, hi = max(lo, definition.clamp[0]), min(hi, definition.clamp[1])
    gates = []
    if definition.gate is not None:
        gates.append((slot[definition.gate], False))
    if definition.unless is not None:
        gates.append((slot[definition.unless], True))
    return _Step(
        out=slot[definition.name],
        terms=tuple((slot[name], weight) for name, weight in definition.terms),
        const=definition.const,
        largest=definition.largest,
        dead_zone=definition.dead_zone,
        a=float(a),
        b=float(b),
        lo=float(lo),
        hi=float(hi),
        above=definition.above,
        gates=tuple(gates),
    )


def load_mapping(path: str | Path) -> Mapping:
    """Load, validate and compile a mapping file; raises :class:`MappingError` (file, line, key)."""
    path = Path(path)
    try:
        data, lines = load_toml_with_lines(path)
    except FileNotFoundError:
        raise MappingError(path, None, "", "no such mapping file") from None
    except TextFileError as exc:
        raise MappingError(path, None, "", str(exc).removeprefix(f"{path}: ")) from None
    except TomlSyntaxError as exc:
        raise MappingError(path, exc.line, "", str(exc)) from None
    return _Loader(path, data, lines).load()
