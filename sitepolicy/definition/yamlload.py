"""Read a definition's YAML strictly: plain data, written once, read as written.

A definition is a flat mapping of scalars and lists of scalars. This loader refuses what YAML
offers beyond that, because each has been used against a reviewer or the build:

* anchors and aliases (an alias bomb expands a few hundred bytes into gigabytes);
* explicit tags (``!!python/object``, ``!!int 010``);
* a key written twice (YAML keeps the last: a reviewer approves the first ``docroot:``);
* nesting deeper than :data:`MAX_DEPTH` (30,000 levels overflowed Python's stack).

No YAML 1.1 typing: every scalar is the string as written (``1.10`` stays ``1.10``, ``010`` and
``1:30`` stay text, ``yes`` is not true), except an empty value, ``~`` and ``null``, which are None,
and plain decimal digits without a leading zero (``5``), which are a whole number.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml

MAX_DEPTH = 8  # the document mapping, a list in it: 2 levels are used; 8 leaves room and no stack risk
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_DECIMAL = re.compile(r"^(?:0|[1-9][0-9]{0,8})$")  # plain decimal digits only: never 010, 0x1f, 1_000, 1:30


class YamlRefused(Exception):
    """The document uses a YAML feature a definition may not; carries what and where."""

    def __init__(self, what: str, mark: yaml.Mark | None) -> None:
        self.where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "the document"
        self.what = what
        super().__init__(f"{what} ({self.where})")


class DefinitionLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    """SafeLoader without aliases, anchors, tags, duplicate keys, deep nesting or implicit typing."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {}

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: object) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise YamlRefused(f"an alias (*{event.anchor}): anchors and aliases are not allowed", event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise YamlRefused(f"an anchor (&{anchor}): anchors and aliases are not allowed", event.start_mark)
        tag = getattr(event, "tag", None)
        if tag not in (None, "!"):
            raise YamlRefused(f"an explicit tag ({tag[:40]}): tags are not allowed", event.start_mark)
        if isinstance(event, yaml.CollectionStartEvent):
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise YamlRefused(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlRefused("a key that is not a plain word", key_node.start_mark)
            if key_node.value in seen:
                raise YamlRefused(f"the key {key_node.value[:60]!r} written twice", key_node.start_mark)
            seen.add(key_node.value)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


DefinitionLoader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
DefinitionLoader.add_implicit_resolver("tag:yaml.org,2002:int", _DECIMAL, list("0123456789"))


def load(text: str) -> Any:
    """The one document in ``text``; YamlRefused, yaml.YAMLError, RecursionError or MemoryError otherwise."""
    loader = DefinitionLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
