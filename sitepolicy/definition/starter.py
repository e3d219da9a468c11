"""new-site: write a commented starter definition that already passes validation."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ..errors import DefinitionError
from ..render import render_template
from .site import site_from_mapping


def default_user(name: str) -> str:
    """A pool user name from the site name: [a-z_][a-z0-9_-]{0,30}."""
    user = re.sub(r"[^a-z0-9_]", "_", name)[:31]
    return user if re.match(r"[a-z_]", user) else ("s" + user)[:31]


def new_site(name: str, sites_dir: Path) -> Path:
    target = sites_dir / f"{name}.yaml"
    # Validate the name before it is used in a path or rendered into the file.
    site_from_mapping({"site": name, "docroot": f"/srv/www/{name}", "user": default_user(name)}, target)
    if target.exists():
        raise DefinitionError(target, "(file)", str(target), "a site that is not defined yet (the file exists)")
    text = render_template("new-site.yaml.j2", name=name, user=default_user(name))
    site_from_mapping(yaml.safe_load(text), target)  # the starter itself must pass validation
    sites_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_text(text)
    partial.rename(target)
    return target
