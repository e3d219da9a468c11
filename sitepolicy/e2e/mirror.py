"""Find the Debian mirror the host's apt already uses (the only network the build may reach)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import E2EError


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def _parse_deb822(text: str) -> list[AptSource]:
    sources: list[AptSource] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
            continue
        for uri in fields.get("uris", "").split():
            sources.append(
                AptSource(
                    uri,
                    tuple(fields.get("suites", "").split()),
                    tuple(fields.get("components", "").split()),
                )
            )
    return sources


def _parse_one_line(text: str) -> list[AptSource]:
    sources: list[AptSource] = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options such as [signed-by=...]
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            sources.append(AptSource(words[0], (words[1],), tuple(words[2:])))
    return sources


def host_apt_sources(etc_apt: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every enabled `deb` source of the host, in apt's reading order."""
    sources: list[AptSource] = []
    main_list = etc_apt / "sources.list"
    if main_list.is_file():
        sources += _parse_one_line(main_list.read_text())
    parts = etc_apt / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                sources += _parse_one_line(path.read_text())
            elif path.suffix == ".sources":
                sources += _parse_deb822(path.read_text())
    return sources


def find_mirror(suite: str, etc_apt: Path = Path("/etc/apt")) -> str:
    """The URI of the host's apt source that serves `suite` main over http(s)."""
    for source in host_apt_sources(etc_apt):
        if suite in source.suites and "main" in source.components and source.uri.startswith(("http://", "https://")):
            return source.uri.rstrip("/")
    raise E2EError(
        f"no apt source for '{suite} main' in {etc_apt}/sources.list or sources.list.d/: "
        "the guest image is built from the host's own Debian mirror (pass mirror= to override)"
    )
