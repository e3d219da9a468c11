"""list-sites and new-site on a Project: what each definition produces, and a starter definition."""

from __future__ import annotations

from pathlib import Path

from ..project import Project
from .starter import new_site as write_starter


def describe_sites(project: Project) -> str:
    refused = [f"refused: {error}" for error in project.refused]
    if not project.sites:
        return "\n".join([*refused, "no valid site defined in sites.d/ (invoke new-site NAME)"])
    lines = refused
    for site in project.sites:
        n = site.names
        trial = "  [TRIAL: mode: permissive, NOT isolated]" if site.permissive else ""
        lines += [
            f"{site.name}  ({site.source.name}){trial}",
            f"  packages : {n.selinux_package}, {n.php_fpm_package} (source {n.package})",
            f"  module   : {n.module}   domain: {n.domain}",
            f"  docroot  : {site.docroot}  writable: {', '.join(map(str, site.writable)) or '-'}",
            f"  pool     : {site.user}:{site.group}  socket: {site.socket}",
            f"  unit     : {n.unit}   network: {', '.join(sorted(x.value for x in site.network)) or '-'}",
        ]
    return "\n".join(lines)


def new_site(project: Project, name: str) -> Path:
    return write_starter(name, project.sites_dir)
