"""The definition change a suggestion asks for: the edited sites.d/<site>.yaml, validated, as a diff; applied
atomically (a temporary file beside it, then one rename) only when every changed definition validates.

The edit keeps the file as written (comments, order): a list field written as a block (``- x`` lines) gets
one more line, a flow list (``[a, b]``) one more item, a missing field one line at the end. The edited text is
then loaded like any definition, and must give exactly the old Site with the new values added.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..definition import yamlload
from ..definition.site import Network, Site, check_distinct, site_from_mapping
from ..errors import DefinitionError, SitepolicyError
from .classify import Need

_KEY = re.compile(r"^(?P<key>[a-z_]+):(?P<rest>.*)$")
_ITEM = re.compile(r"^(?P<indent>\s*)-\s+\S")


class ChangeError(SitepolicyError):
    """A suggested change would not give a valid definition; nothing was written."""

    exit_code = 2


def _add_to_list(text: str, field: str, values: Sequence[str]) -> str:
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        m = _KEY.match(line.rstrip("\n"))
        if not m or m["key"] != field:
            continue
        rest = m["rest"].split("#", 1)[0].strip()
        if rest.startswith("[") and rest.endswith("]"):
            items = [v.strip() for v in rest[1:-1].split(",") if v.strip()]
            comment = m["rest"][m["rest"].index("#") :] if "#" in m["rest"] else ""
            new = f"{field}: [{', '.join([*items, *values])}]" + (f"  {comment}" if comment else "")
            lines[i] = new + "\n"
            return "".join(lines)
        if rest in ("", "~", "null"):
            j, indent = i + 1, "  "
            last = i
            while j < len(lines):
                stripped = lines[j].strip()
                item = _ITEM.match(lines[j])
                if item:
                    last, indent = j, item["indent"]
                elif stripped and not stripped.startswith("#"):
                    break
                j += 1
            if last == i and rest in ("~", "null"):
                lines[i] = f"{field}:\n"
            added = [f"{indent}- {v}\n" for v in values]
            if not lines[last].endswith("\n"):
                lines[last] += "\n"
            lines[last + 1 : last + 1] = added
            return "".join(lines)
        raise ChangeError(f"{field}: written in a form this edit does not handle ({rest[:40]!r}); add {values} by hand")
    tail = "" if not text or text.endswith("\n") else "\n"
    return text + tail + f"{field}:\n" + "".join(f"  - {v}\n" for v in values)


def _set_scalar(text: str, field: str, value: str) -> str:
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        m = _KEY.match(line.rstrip("\n"))
        if m and m["key"] == field:
            lines[i] = f"{field}: {value}\n"
            return "".join(lines)
    tail = "" if not text or text.endswith("\n") else "\n"
    return text + tail + f"{field}: {value}\n"


def _expected(site: Site, needs: Sequence[Need]) -> Site:
    writable = list(site.writable)
    network = set(site.network)
    for need in needs:
        if need.field == "writable" and PurePosixPath(need.value) not in writable:
            writable.append(PurePosixPath(need.value))
        elif need.field == "network":
            network.add(Network(need.value))
    mail = next((n.value for n in needs if n.field == "mail"), site.mail)
    return dataclasses.replace(site, writable=tuple(writable), network=frozenset(network), mail=mail)


def outermost(site: Site, needs: Sequence[Need]) -> dict[Need, Need]:
    """Each need, with a writable directory below another writable one (the site's, or another need's) mapped
    to that ancestor: a writable entry labels its whole tree, and a permissive trial logs an access once per
    policy load, so the directories an application makes below one it writes leave no record of their own
    (MediaWiki's uploads/4/47 beside uploads)."""
    roots = set(site.writable) | {PurePosixPath(n.value) for n in needs if n.field == "writable"}
    mapped: dict[Need, Need] = {}
    for need in needs:
        if need.field != "writable":
            mapped[need] = need
            continue
        path = PurePosixPath(need.value)
        ancestors = [p for p in path.parents if p in roots]
        mapped[need] = dataclasses.replace(need, value=str(ancestors[-1])) if ancestors else need
    return mapped


@dataclass(frozen=True)
class Change:
    """The new text of one definition and the needs it adds."""

    site: Site
    needs: tuple[Need, ...]
    old_text: str
    new_text: str

    @property
    def path(self) -> Path:
        return self.site.source

    def diff(self) -> str:
        name = f"sites.d/{self.path.name}"
        return "".join(
            difflib.unified_diff(
                self.old_text.splitlines(keepends=True),
                self.new_text.splitlines(keepends=True),
                f"a/{name}",
                f"b/{name}",
            )
        )


def plan_change(site: Site, needs: Sequence[Need]) -> Change | None:
    """The edited definition adding ``needs`` that ``site`` lacks; None when it has them all. Validated:
    the new text loads, and gives the old site plus exactly these values."""
    missing = [
        n
        for n in dict.fromkeys(needs)
        if (n.field == "writable" and PurePosixPath(n.value) not in site.writable)
        or (n.field == "network" and Network(n.value) not in site.network)
        or (n.field == "mail" and site.mail != n.value)
    ]
    if not missing:
        return None
    old = site.source.read_text()
    new = old
    for field in ("writable", "network"):
        values = [n.value for n in missing if n.field == field]
        if values:
            new = _add_to_list(new, field, values)
    for need in missing:
        if need.field == "mail":
            new = _set_scalar(new, "mail", need.value)
    try:
        data = yamlload.load(new)
        if not isinstance(data, dict):
            raise ChangeError(f"{site.source}: the edited definition is not a mapping")
        changed = site_from_mapping(data, site.source)
    except DefinitionError as exc:
        raise ChangeError(f"the suggested change of {site.source} is refused, nothing written: {exc}") from None
    except (yamlload.YamlRefused, ValueError) as exc:
        raise ChangeError(f"the suggested change of {site.source} is not valid YAML, nothing written: {exc}") from None
    if changed != _expected(site, missing):
        raise ChangeError(
            f"the edit of {site.source} would change more than {', '.join(map(str, missing))}; nothing written"
        )
    return Change(site, tuple(missing), old, new)


def check_changes(changes: Sequence[Change], sites: Sequence[Site]) -> None:
    """Every site with the changes applied still collides with no other (paths, names, accounts)."""
    changed = {c.site.name: _expected(c.site, c.needs) for c in changes}
    try:
        check_distinct([changed.get(s.name, s) for s in sites])
    except DefinitionError as exc:
        raise ChangeError(f"the suggested changes are refused, nothing written: {exc}") from None


def apply_changes(changes: Sequence[Change]) -> list[Path]:
    """Write every change, each file replaced in one rename; a file changed since it was read is refused
    before anything is written."""
    for change in changes:
        if change.path.read_text() != change.old_text:
            raise ChangeError(f"{change.path} changed while audit ran; nothing written (run it again)")
    written = []
    for change in changes:
        partial = change.path.with_name(f".{change.path.name}.audit-part")
        try:
            partial.write_text(change.new_text)
            os.chmod(partial, change.path.stat().st_mode & 0o7777)
            os.replace(partial, change.path)
        finally:
            partial.unlink(missing_ok=True)
        written.append(change.path)
    return written
