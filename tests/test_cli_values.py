"""Command-line values that reach a command line or a shipped file are matched whole: a trailing
newline (which `re.match` with `$` lets through) is refused like any other character outside the list."""

from __future__ import annotations

import pytest

from sitepolicy.errors import SitepolicyError
from sitepolicy.package.mock import config_name
from sitepolicy.publish.repofile import check_base_url
from sitepolicy.publish.signing import resolve_key
from sitepolicy.publish.submit import check_copr_project, check_koji_target


@pytest.mark.parametrize(
    ("check", "good", "option"),
    [
        (check_base_url, "https://repo.example.com/sites/el9", "--base-url"),
        (check_copr_project, "owner/project", "--copr"),
        (check_koji_target, "epel9-candidate", "--koji"),
        (config_name, "alma+epel-9-x86_64", "--mock"),
    ],
)
def test_trailing_newline_is_refused(check, good, option):
    check(good)
    with pytest.raises(SitepolicyError) as info:
        check(good + "\n")
    assert str(info.value).startswith(f"{option} {good + chr(10)!r}")


def test_signing_key_with_trailing_newline_is_refused():
    with pytest.raises(SitepolicyError, match="--sign"):
        resolve_key("test@example.invalid\n")
