"""The guest is built from the host's own apt mirror: parsing both sources formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitepolicy.e2e.mirror import find_mirror
from sitepolicy.errors import E2EError


def test_deb822_and_one_line(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# nothing\ndeb [arch=amd64] http://mirror.example/debian-old bullseye main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    assert find_mirror("bookworm", tmp_path) == "http://mirror.example/debian"
    assert find_mirror("bullseye", tmp_path) == "http://mirror.example/debian-old"
    with pytest.raises(E2EError, match="no apt source for 'trixie main'"):
        find_mirror("trixie", tmp_path)
