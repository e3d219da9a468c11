"""Render the text a site ships (policy module, spec, unit, pool configuration) from templates.

Templates hold the text; this module only hands them validated values. StrictUndefined turns a
misspelt variable into an error instead of an empty string in kernel policy or a root shell script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2

from . import __version__
from .definition import fingerprint
from .definition.runtime import runtime_context
from .definition.site import DOCROOT_TREES, Site
from .targets import Target

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POLICY_TEMPLATES = PROJECT_ROOT / "policy-templates"
SPEC_TEMPLATES = PROJECT_ROOT / "specs"

# Characters with a meaning in the regular expressions of .fc files (POSIX ERE and PCRE alike).
_FC_META = re.compile(r"([.^$*+?()\[\]{}|\\])")


def fc_regex(path: PurePosixPath | str) -> str:
    """A literal path as a file-context regular expression: every metacharacter escaped."""
    return _FC_META.sub(r"\\\1", str(path))


@dataclass(frozen=True)
class Rendered:
    """Files rendered for one site: name -> text, in the order they are listed."""

    files: dict[str, str]

    def write(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.files.items():
            path = directory / name
            path.write_text(text)
            written.append(path)
        return written


@lru_cache(maxsize=8)  # one compiled set of templates per directory: rendering 500 sites stays fast
def _environment(directory: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fc_regex"] = fc_regex
    return env


def _docroot_tree(site: Site) -> str:
    for tree in DOCROOT_TREES:
        if site.docroot.is_relative_to(tree):
            return str(tree)
    raise AssertionError(f"docroot {site.docroot} passed validation outside {DOCROOT_TREES}")


def site_context(site: Site, target: Target, release: str = "1") -> dict[str, Any]:
    """The values every template of a site may use."""
    names = site.names
    run_dirs = [site.run_dir, PurePosixPath("/var") / site.run_dir.relative_to("/")]
    web_server = target.web_server(site.web_server)
    return {
        "site": site,
        "n": names,
        "t": {role or "domain": type_name for role, type_name in names.types.items()},
        "target": target,
        "php_fpm": site.php_fpm or target.php_fpm,
        "web_server": web_server,  # .name, .group (reaches the socket), .package (creates the group)
        "network": sorted(need.value for need in site.network),
        "docroot_tree": _docroot_tree(site),
        "run_dirs": run_dirs,
        "policy_version": site.version,
        "release": release,
        "tool_version": __version__,
        "selinux_context": f"system_u:system_r:{names.domain}:s0",
        "runtime": runtime_context(target),
        "site_identity": fingerprint.identity(site),
        "definition_fingerprint": fingerprint.definition(site),
    }


def render_policy(site: Site, target: Target, templates: Path = POLICY_TEMPLATES) -> Rendered:
    """The module's .te, .fc and .if, named after the module."""
    env = _environment(templates)
    context = site_context(site, target)
    module = site.names.module
    return Rendered(
        {f"{module}.{ext}": env.get_template(f"site.{ext}.j2").render(context) for ext in ("te", "fc", "if")}
    )


# Files the -php-fpm package installs, rendered from specs/files/, keyed by template.
PACKAGE_FILES: dict[str, str] = {
    "php-fpm.service.j2": "{unit}",
    "php-fpm.conf.j2": "{package}-php-fpm.conf",
    "tmpfiles.conf.j2": "{package}-tmpfiles.conf",
    "sysusers.conf.j2": "{package}-sysusers.conf",
}


def render_package_files(site: Site, target: Target, templates: Path = SPEC_TEMPLATES) -> Rendered:
    env = _environment(templates / "files")
    context = site_context(site, target)
    names = site.names
    return Rendered(
        {
            out.format(unit=names.unit, package=names.package): env.get_template(tpl).render(context)
            for tpl, out in PACKAGE_FILES.items()
        }
    )


def render_spec(
    site: Site,
    target: Target,
    release: str,
    sources: list[str],
    templates: Path = SPEC_TEMPLATES,
) -> str:
    """The spec of the site's source package; ``sources`` lists its Source files in order."""
    env = _environment(templates)
    context = site_context(site, target, release)
    context["sources"] = sources
    return env.get_template("site.spec.j2").render(context)


def render_runtime(target: Target, release: str, templates: Path = SPEC_TEMPLATES) -> Rendered:
    """sitepolicy-selinux-runtime's reconcile script and spec, for one target."""
    context = runtime_context(target, release)
    return Rendered(
        {
            "reconcile": _environment(templates / "files").get_template("reconcile.j2").render(context),
            "sitepolicy-selinux-runtime.spec": _environment(templates).get_template("runtime.spec.j2").render(context),
        }
    )
