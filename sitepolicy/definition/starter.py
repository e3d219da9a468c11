"""new-site: write a commented starter definition that already passes validation."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DefinitionError
from ..render import render_template
from . import yamlload
from .allowlists import GENERATED_ACCOUNT_PREFIX
from .site import site_from_mapping


def default_user(name: str) -> str:
    """A pool user name from the site name, behind a fixed prefix so it is never a system account's
    (sys.example.com would give sys_example_com without it): [a-z_][a-z0-9_-]{0,30}."""
    return (GENERATED_ACCOUNT_PREFIX + re.sub(r"[^a-z0-9_]", "_", name))[:31]


def new_site(name: str, sites_dir: Path) -> Path:
    target = sites_dir / f"{name}.yaml"
    # Validate the name before it is used in a path or rendered into the file.
    site_from_mapping({"site": name, "docroot": f"/srv/www/{name}", "user": default_user(name)}, target)
    if target.exists():
        raise DefinitionError(target, "(file)", str(target), "a site that is not defined yet (the file exists)")
    text = render_template("new-site.yaml.j2", name=name, user=default_user(name))
    site_from_mapping(yamlload.load(text), target)  # the starter itself must pass validation
    sites_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_text(text)
    partial.rename(target)
    return target
