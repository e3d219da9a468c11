"""The .repo file users drop into /etc/yum.repos.d/ (text in templates/sites.repo.j2)."""

from __future__ import annotations

import re
from pathlib import Path

from ..definition.names import repo_id
from ..errors import SitepolicyError
from ..render import render_template
from .signing import KEY_FILE

REPO_FILE = "sites.repo"
# A URL goes verbatim into an ini file dnf reads: one line, no spaces, a scheme dnf fetches from.
BASE_URL = re.compile(r"^(https?|file)://[A-Za-z0-9._~:/?#@!$&*+,;=%-]+$")


def check_base_url(url: str) -> str:
    url = url.rstrip("/")
    if not BASE_URL.fullmatch(url) or len(url) > 1000:
        raise SitepolicyError(
            f"--base-url {url!r}: an http://, https:// or file:// URL without spaces, quotes or newlines"
        )
    return url


def default_base_url(repo: Path) -> str:
    return check_base_url(repo.resolve().as_uri())


def render_repo_file(target: str, base_url: str, signed: bool) -> str:
    return render_template(
        "sites.repo.j2",
        target=target,
        base_url=check_base_url(base_url),
        signed=signed,
        repo_id=repo_id(target),
        key_file=KEY_FILE,
        file_name=REPO_FILE,
    )
