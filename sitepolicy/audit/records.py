"""AVC records from an audit.log, `ausearch --raw` or `ausearch -i` output, or a kernel log (journal, dmesg, syslog).

They carry the same record text: ``type=AVC msg=audit(<time>:<serial>): avc:  denied { … } for …`` in audit.log
and ausearch --raw (optionally behind ``node=<host>``), ``audit: type=1400 audit(<time>:<serial>): avc:  denied …``
in a kernel log when no auditd runs. ``ausearch -i`` interprets them: the time as the local date and time
(``audit(11/30/26 12:28:03.604:293) : avc: …``, the C locale's ``%x %T``; en_US writes the year in four digits),
names for numbers, strings unquoted. A userspace object manager (D-Bus, systemd) logs its own decisions as
USER_AVC records, the AVC text nested in the record's ``msg='…'`` (kind "USER_AVC", ``manager`` its exe).
The PATH and CWD records of the same event (same time and serial) give the full path when the kernel
collected one. Older kernels write no ``permissive=`` field: then whether the access happened is unknown (None).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..errors import SitepolicyError

# The record's time: seconds since the epoch (raw), or ausearch -i's local date and time.
_STAMP = r"(?P<ts>\d+(?:\.\d+)?|\d\d/\d\d/(?:\d\d){1,2} \d\d:\d\d:\d\d(?:\.\d+)?):(?P<serial>\d+)"
_AVC_TEXT = r"avc:\s+(?P<result>denied|granted)\s+\{ (?P<perms>[^}]*) \}\s+for\s+"
_AVC = re.compile(r"audit\(" + _STAMP + r"\)\s?:\s*" + _AVC_TEXT + r"(?P<rest>.*)$")
_USER_AVC = re.compile(
    r"(?:type=USER_AVC|type=1107) msg=audit\(" + _STAMP + r"\)\s?:.*?\bmsg='" + _AVC_TEXT + r"(?P<rest>[^']*)'"
)
_EVENT = re.compile(r"type=(?P<type>PATH|CWD|1302|1307) msg=audit\(" + _STAMP + r"\)\s?:(?P<rest>.*)$")
_FIELD = re.compile(r'(?P<key>[a-z_0-9]+)=(?P<value>"[^"]*"|\S+)')
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
# The kernel writes these strings quoted, or hex-encoded when they hold a space, a quote or a control character.
_STRINGS = frozenset({"name", "path", "comm", "exe", "cwd", "cmdline"})


def _fields(text: str, interpreted: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _FIELD.finditer(text):
        value = m["value"]
        if value.startswith('"') and value.endswith('"') and len(value) > 1:
            value = value[1:-1]
        elif not interpreted and m["key"] in _STRINGS and _HEX.fullmatch(value):
            value = bytes.fromhex(value).decode(errors="replace")
        out.setdefault(m["key"], value)
    return out


def _stamp(text: str) -> tuple[float, bool]:
    """(seconds since the epoch, whether ausearch -i wrote it as a local date and time)."""
    if "/" not in text:
        return float(text), False
    day, clock = text.split(" ")
    whole, _, fraction = clock.partition(".")
    moment = dt.datetime.strptime(f"{day} {whole}", "%m/%d/%y %H:%M:%S" if len(day) == 8 else "%m/%d/%Y %H:%M:%S")
    return round(moment.timestamp() + (float("0." + fraction) if fraction else 0.0), 3), True


def _type_of(context: str) -> str:
    parts = context.split(":")
    return parts[2] if len(parts) > 2 else context


@dataclass(frozen=True)
class Avc:
    """One AVC record."""

    timestamp: float
    serial: int
    denied: bool
    permissions: frozenset[str]
    scontext: str
    tcontext: str
    tclass: str
    permissive: bool | None  # None: the record has no permissive= field (older kernels)
    line: str
    fields: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    path: PurePosixPath | None = None  # the object's full path, when the event carries it
    kind: str = "AVC"  # the record type: AVC (the kernel's) or USER_AVC (a userspace object manager's)

    @property
    def manager(self) -> str | None:
        """The userspace object manager that logged a USER_AVC (its exe: dbus-daemon, systemd), else None."""
        return self.fields.get("exe") if self.kind == "USER_AVC" else None

    @property
    def source_type(self) -> str:
        return _type_of(self.scontext)

    @property
    def target_type(self) -> str:
        return _type_of(self.tcontext)

    @property
    def name(self) -> str | None:
        """The last component of the object's path (``name=``), if the record has one."""
        return self.fields.get("name")

    @property
    def ino(self) -> int | None:
        value = self.fields.get("ino")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def port(self) -> int | None:
        value = self.fields.get("dest") or self.fields.get("src")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def event(self) -> tuple[float, int]:
        return (self.timestamp, self.serial)


def _event_paths(lines: Iterable[str]) -> dict[tuple[float, int], tuple[str, list[dict[str, str]]]]:
    """(time, serial) -> (cwd, PATH items) of every event that has them."""
    events: dict[tuple[float, int], tuple[str, list[dict[str, str]]]] = {}
    for line in lines:
        m = _EVENT.search(line)
        if not m:
            continue
        stamp, interpreted = _stamp(m["ts"])
        key = (stamp, int(m["serial"]))
        cwd, items = events.get(key, ("", []))
        fields = _fields(m["rest"], interpreted)
        if m["type"] in ("CWD", "1307"):
            cwd = fields.get("cwd", "")
        else:
            items = [*items, fields]
        events[key] = (cwd, items)
    return events


def _full_path(fields: dict[str, str], cwd: str, items: list[dict[str, str]]) -> PurePosixPath | None:
    if fields.get("path", "").startswith("/"):
        return PurePosixPath(fields["path"])
    ino = fields.get("ino")
    name = fields.get("name")
    for item in items:
        item_name = item.get("name", "")
        matches = (ino is not None and item.get("inode") == ino) or (
            name is not None and PurePosixPath(item_name).name == name
        )
        if matches and item_name not in ("", "(null)"):
            path = PurePosixPath(item_name)
            if not path.is_absolute() and cwd.startswith("/"):
                path = PurePosixPath(cwd) / path
            if path.is_absolute() and ".." not in path.parts:
                return path
    return None


def parse_records(text: str) -> list[Avc]:
    """Every AVC and USER_AVC record in ``text`` (audit.log, ausearch --raw or -i, a kernel log), in order."""
    lines = text.splitlines()
    events = _event_paths(lines)
    found = []
    for line in lines:
        kind = "USER_AVC"
        m = _USER_AVC.search(line)
        if m is None:
            kind = "AVC"
            m = _AVC.search(line)
        if m is None:
            continue
        stamp, interpreted = _stamp(m["ts"])
        fields = _fields(m["rest"], interpreted)
        if "scontext" not in fields or "tcontext" not in fields or "tclass" not in fields:
            continue
        key = (stamp, int(m["serial"]))
        cwd, items = events.get(key, ("", []))
        permissive = fields.get("permissive")
        found.append(
            Avc(
                timestamp=key[0],
                serial=key[1],
                denied=m["result"] == "denied",
                permissions=frozenset(m["perms"].split()),
                scontext=fields["scontext"],
                tcontext=fields["tcontext"],
                tclass=fields["tclass"],
                permissive=None if permissive is None else permissive == "1",
                line=line.strip(),
                fields=fields,
                path=_full_path(fields, cwd, items),
                kind=kind,
            )
        )
    return found


_RELATIVE = re.compile(r"^(?P<n>\d+)\s*(?P<unit>[smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(value: str, now: float | None = None) -> float:
    """--since: seconds since the epoch, an ISO 8601 time (local time when no zone is given), or an age
    such as 30m, 2h, 1d. Returns the epoch time records must not be older than."""
    text = value.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return (time.time() if now is None else now) - int(relative["n"]) * _UNITS[relative["unit"]]
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    try:
        moment = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise SitepolicyError(
            f"--since {value!r}: not a time; give seconds since the epoch, an ISO 8601 time "
            "(2026-11-30T12:00:00, 2026-11-30 12:00, …Z for UTC) or an age (30m, 2h, 1d)"
        ) from None
    return moment.timestamp()


def iso_time(timestamp: float) -> str:
    """An audit time as ISO 8601 UTC with milliseconds."""
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
