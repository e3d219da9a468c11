"""The base module as CIL: the compiled base .pp (the target's interfaces expanded), converted to CIL,
with its placeholder types turned into what they stand for.

The .te language cannot put an attribute into an attribute, nor name a permission set, so base.te.j2
declares sitepolicy's attributes and the permission-set pairs as placeholder *types*. In the CIL of
the compiled module (policycoreutils' pp converter, which semodule itself runs) each attribute
placeholder becomes a ``typeattribute`` (its memberships and rules then apply to every site type that
joins it) and each permission-set pair becomes one ``classpermission``. Any other use of a placeholder
is refused: the result is exactly what the compiler wrote, with these names only.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass

try:
    from ..errors import SitepolicyError
except ImportError:  # run as a script by the runtime package's %build, where sitepolicy is not installed
    SitepolicyError = Exception  # type: ignore[misc,assignment]


class BaseCilError(SitepolicyError):
    """The compiled base module holds a placeholder where none may be."""


@dataclass(frozen=True)
class BaseNames:
    """The names base.te.j2 writes placeholders for (shape/names.py's ``base_names()``): this file runs
    without sitepolicy (the runtime's %build), so it receives them as JSON (``to_json``/``from_json``)."""

    attributes: tuple[str, ...]
    perm_sets: tuple[tuple[str, str, str], ...]  # (placeholder source, placeholder target, classpermission)
    pairs: tuple[tuple[str, str, str, str], ...]  # (name, first placeholder, second placeholder, macro)
    placeholder_prefix: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "attributes": self.attributes,
                "perm_sets": self.perm_sets,
                "pairs": self.pairs,
                "placeholder_prefix": self.placeholder_prefix,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> BaseNames:
        data = json.loads(text)
        return cls(
            tuple(data["attributes"]),
            tuple(tuple(p) for p in data["perm_sets"]),
            tuple(tuple(p) for p in data["pairs"]),
            data["placeholder_prefix"],
        )


_MEMBERS = re.compile(r"^(\s*)\(typeattributeset (\S+) \((.*)\)\)$")
_PERM_ALLOW = re.compile(r"^\(allow (\S+) (\S+) (\(\S+ \([^()]*\)\))\)$")


@dataclass(frozen=True)
class _PermSet:
    source: str
    target: str
    name: str


@dataclass(frozen=True)
class _Pair:
    name: str
    first: str
    second: str
    macro: str


def base_cil(compiled: str, names: BaseNames) -> str:
    """``compiled``: the pp converter's CIL of the base module. Returns the base module's CIL."""
    placeholder_prefix = names.placeholder_prefix
    perm_sets = {p[2]: _PermSet(*p) for p in names.perm_sets}
    pair_defs = {p[0]: _Pair(*p) for p in names.pairs}
    attributes = set(names.attributes)
    by_source = {p.source: p for p in perm_sets.values()}
    targets = {p.target for p in perm_sets.values()}
    placeholders = set(by_source) | targets
    out: list[str] = []
    filled: set[str] = set()
    pair_of = {**{p.first: p for p in pair_defs.values()}, **{p.second: p for p in pair_defs.values()}}
    macros: dict[str, list[str]] = {p.name: [] for p in pair_defs.values()}
    for number, line in enumerate(compiled.splitlines(), 1):
        words = set(re.findall(r"[A-Za-z0-9_]+", line))
        pairs = {pair_of[w].name for w in words if w in pair_of}
        if pairs:
            if line.startswith(("(type ", "(roletype object_r ")):
                continue  # the placeholders' declarations: the macro's parameters instead
            if len(pairs) > 1 or line.startswith((" ", "\t", "(typeattributeset ")) or placeholder_prefix in line:
                raise BaseCilError(f"base module line {number}: a pair placeholder where none may be: {line}")
            macros[pairs.pop()].append(line)
            continue
        if line.startswith("(type ") and line.endswith(")"):
            name = line[len("(type ") : -1]
            if name in attributes:
                out.append(f"(typeattribute {name})")
                continue
            if name in by_source:
                out.append(f"(classpermission {by_source[name].name})")
                continue
            if name in targets:
                continue
        # object_r on an attribute: every site type that joins it may label files (as the .pp has it per type).
        if line.startswith("(roletype object_r ") and line[len("(roletype object_r ") : -1] in placeholders:
            continue
        allow = _PERM_ALLOW.match(line)
        if allow and allow.group(1) in by_source:
            perm = by_source[allow.group(1)]
            if allow.group(2) != perm.target:
                raise BaseCilError(f"base module line {number}: {perm.source} onto {allow.group(2)}: {line}")
            out.append(f"(classpermissionset {perm.name} {allow.group(3)})")
            filled.add(perm.name)
            continue
        members = _MEMBERS.match(line)
        if members:
            kept = [m for m in members.group(3).split() if m not in placeholders]
            if not kept:
                continue
            line = f"{members.group(1)}(typeattributeset {members.group(2)} ({' '.join(kept)}))"
        if placeholder_prefix in line:
            raise BaseCilError(f"base module line {number}: a permission-set placeholder where none may be: {line}")
        out.append(line)
    for pair in pair_defs.values():
        if not macros[pair.name]:
            raise BaseCilError(f"the base module defines no rules for the pair {pair.name}")
        params = f"((type {pair.first}) (type {pair.second}))"
        out.append(f"(macro {pair.macro} {params}")
        out += [f"    {line}" for line in macros[pair.name]]
        out.append(")")
    missing = sorted(p.name for p in perm_sets.values() if p.name not in filled)
    if missing:
        raise BaseCilError(f"the base module defines no permissions for {', '.join(missing)}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    """``basecil.py NAMES.json < compiled.cil > base.cil``: what the runtime package's %build runs."""
    if len(argv) != 2:
        print("usage: basecil.py NAMES.json < compiled.cil > base.cil", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        names = BaseNames.from_json(f.read())
    try:
        sys.stdout.write(base_cil(sys.stdin.read(), names))
    except BaseCilError as e:
        print(f"basecil: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
