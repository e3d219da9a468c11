"""The target's own interfaces that would grant an access: read from its policy headers (devel/include).

An `unsupported` finding names them so the need can become a schema entry; nothing here writes a rule.
Each interface's body is read for the rules it gives its first argument: ``allow $1 T:C P;`` and the
``<verb>_<objects>_pattern($1, …, T)`` calls, with the permission sets of support/obj_perm_sets.spt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_DEFINE = re.compile(r"define\(`(?P<name>\w+)',\s*`\{?(?P<body>[^}']*)\}?'\)")
_BLOCK = re.compile(r"^(?:interface)\(`(?P<name>\w+)',`(?P<body>.*?)^'\)", re.S | re.M)
_ALLOW = re.compile(
    r"^\s*allow\s+\$1\s+(?P<types>\{[^}]*\}|\S+?)\s*:\s*(?P<classes>\{[^}]*\}|\w+)\s+(?P<perms>\{[^}]*\}|\w+)\s*;", re.M
)
_PATTERN = re.compile(r"^\s*(?P<verb>[a-z]+)_(?P<objects>[a-z_]+?)s_pattern\(\s*\$1\s*,(?P<args>[^)]*)\)", re.M)
_CALL = re.compile(r"^\s*(?P<name>\w+)\(\s*\$1\s*\)", re.M)


def _words(text: str) -> list[str]:
    return text.strip().strip("{}").split()


@dataclass(frozen=True)
class Grant:
    target: str
    tclass: str
    perms: frozenset[str] | None  # None: not known (a macro we do not expand)


class InterfaceIndex:
    """Interfaces of one devel tree, by the (type, class) they grant."""

    def __init__(self, include: Path) -> None:
        self.perm_sets = self._perm_sets(include / "support" / "obj_perm_sets.spt")
        self.grants: dict[str, list[Grant]] = {}
        self.size: dict[str, int] = {}
        calls: dict[str, list[str]] = {}
        for path in sorted(include.rglob("*.if")):
            for m in _BLOCK.finditer(path.read_text(errors="replace")):
                name, body = m["name"], m["body"]
                self.grants[name] = list(self._grants(body))
                self.size[name] = len(body)
                calls[name] = [c["name"] for c in _CALL.finditer(body)]
        # one level of calls: files_search_runtime($1) inside mysql_stream_connect counts as its own
        for name, called in calls.items():
            for other in called:
                self.grants[name] += self.grants.get(other, [])

    @staticmethod
    def _perm_sets(path: Path) -> dict[str, frozenset[str]]:
        raw = {m["name"]: _words(m["body"]) for m in _DEFINE.finditer(path.read_text())} if path.is_file() else {}

        def expand(words: Iterable[str], depth: int = 0) -> frozenset[str]:
            out: set[str] = set()
            for word in words:
                if word in raw and depth < 8:
                    out |= expand(raw[word], depth + 1)
                else:
                    out.add(word)
            return frozenset(out)

        return {name: expand(words) for name, words in raw.items()}

    def _perms(self, text: str) -> frozenset[str] | None:
        out: set[str] = set()
        for word in _words(text):
            if word.endswith("_perms"):
                if word not in self.perm_sets:
                    return None
                out |= self.perm_sets[word]
            elif word != "*":
                out.add(word)
            else:
                return None
        return frozenset(out)

    def _grants(self, body: str) -> Iterable[Grant]:
        for m in _ALLOW.finditer(body):
            perms = self._perms(m["perms"])
            for target in _words(m["types"]):
                for tclass in _words(m["classes"]):
                    yield Grant(target, tclass, perms)
        for m in _PATTERN.finditer(body):
            args = [a.strip() for a in re.split(r",(?![^{]*\})", m["args"])]
            obj = m["objects"]
            if m["verb"] == "stream_connect" or not args:
                continue
            perms = self.perm_sets.get(f"{m['verb']}_{obj}_perms")
            for target in _words(args[-1]):
                yield Grant(target, obj, perms)
            for parent in _words(args[0]) if len(args) > 1 else []:
                yield Grant(parent, "dir", self.perm_sets.get("search_dir_perms"))
        for m in re.finditer(r"stream_connect_pattern\(\s*\$1\s*,(?P<args>[^)]*)\)", body):
            args = [a.strip() for a in re.split(r",(?![^{]*\})", m["args"])]
            if len(args) == 3:
                for target in _words(args[1]):
                    yield Grant(target, "sock_file", frozenset({"write", "getattr", "open", "append"}))
                for target in _words(args[2]):
                    yield Grant(target, "unix_stream_socket", frozenset({"connectto"}))

    def granting(self, target: str, tclass: str, perms: frozenset[str], limit: int = 3) -> list[str]:
        """The smallest interfaces whose own rules grant every one of ``perms`` on ``target``:``tclass``."""
        found = []
        for name, grants in self.grants.items():
            mine = [g for g in grants if g.target == target and g.tclass == tclass]
            if not mine:
                continue
            if any(g.perms is None for g in mine):
                covered = True
            else:
                covered = perms <= frozenset().union(*(g.perms or frozenset() for g in mine))
            if covered:
                found.append(name)
        return sorted(found, key=lambda n: (self.size[n], n))[:limit]


@lru_cache(maxsize=4)
def interface_index(devel: Path) -> InterfaceIndex:
    return InterfaceIndex(devel / "include")
