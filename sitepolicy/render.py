"""Render the text a site ships (policy module, spec, unit, pool configuration) from templates; the one
Jinja environment of sitepolicy (the starter definition and the .repo file are rendered here too).

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
from .definition.names import PRESET_DIR, RECONCILE, RUNTIME_PACKAGE, RUNTIME_STATE_DIR, UNIT_DIR, fc_dir, module_dir
from .definition.site import DOCROOT_TREES, Site
from .errors import SitepolicyError
from .m4 import m4_quote
from .targets import PHP_FPM_ENTRY_TYPE, Target

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POLICY_TEMPLATES = PROJECT_ROOT / "policy-templates"
SPEC_TEMPLATES = PROJECT_ROOT / "specs"
TEMPLATES = PROJECT_ROOT / "templates"  # what is not a package's: the starter definition, the .repo file

# What a file-context entry appends to a directory's regex to cover the directory and everything in it.
FC_TREE_SUFFIX = "(/.*)?"
# Characters with a meaning in the regular expressions of .fc files (POSIX ERE and PCRE alike).
_FC_META = re.compile(r"([.^$*+?()\[\]{}|\\])")


def fc_regex(path: PurePosixPath | str) -> str:
    """A literal path as a file-context regular expression: every metacharacter escaped."""
    return _FC_META.sub(r"\\\1", str(path))


# What a CIL quoted string may not hold (libsepol's lexer ends it at a quote, a newline or a NUL).
_CIL_UNSAFE = re.compile(r'["\x00-\x1f\x7f]')


def cil_string(value: str) -> str:
    """A validated path regex as a CIL quoted string; refuses what would end the string early."""
    if _CIL_UNSAFE.search(value):
        raise SitepolicyError(f"refusing to put {value!r} into a CIL string")
    return f'"{value}"'


def fc_tree(path: PurePosixPath | str) -> str:
    """The .fc regex of ``path`` and everything below it, between m4 quotes (see sitepolicy/m4.py)."""
    return m4_quote(fc_regex(path) + FC_TREE_SUFFIX)


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
    env.filters["fc_tree"] = fc_tree
    env.filters["m4_quote"] = m4_quote
    env.filters["cil_string"] = cil_string
    env.filters["web_value"] = web_value
    return env


# What a value in a web server configuration may hold: no space, quote, ;, {, }, $, # or newline that nginx
# or httpd would read as syntax, a variable or a comment. Validated definitions hold nothing else.
_WEB_VALUE = re.compile(r"^[A-Za-z0-9/._+-]+$")


def web_value(value: object) -> str:
    """A validated name or path, checked again before it lands in a web server configuration."""
    text = str(value)
    if not _WEB_VALUE.fullmatch(text) or "/../" in f"{text}/":
        raise SitepolicyError(f"refusing to put {text!r} into a web server configuration")
    return text


def _docroot_tree(site: Site) -> str:
    for tree in DOCROOT_TREES:
        if site.docroot.is_relative_to(tree):
            return str(tree)
    raise AssertionError(f"docroot {site.docroot} passed validation outside {DOCROOT_TREES}")


def runtime_context(target: Target, release: str = "1") -> dict[str, Any]:
    """The values the runtime's templates, and the site spec's scriptlets, may use."""
    return {
        "package": RUNTIME_PACKAGE,
        "target": target,
        "tool_version": __version__,
        "release": release,
        "reconcile": RECONCILE,
        "state_dir": RUNTIME_STATE_DIR,
        "module_dir": module_dir(target.store),
        "fc_dir": fc_dir(target.store),
        "unit_dir": UNIT_DIR,  # where the -php-fpm packages install their units (%{_unitdir} on Fedora/EL)
        "preset_dir": PRESET_DIR,
        "preset": f"{PRESET_DIR}/80-{RUNTIME_PACKAGE}.preset",
        "config_root": "/etc/sitepolicy",  # every -php-fpm package installs its pool configuration below it
        # The runtime's one trigger on what every pool loads at start: the php-fpm binary, the PHP extensions
        # and their ini files (the directories it watches, and the files it acts on, as one grep -E -x pattern).
        "php_trigger_dirs": sorted({str(target.php_fpm.parent), *(str(d) for d, _suffix in target.php_extensions)}),
        "php_trigger_pattern": _php_trigger_pattern(target),
        "base_interface": _base_interface(),
        "php_fpm_entry_type": PHP_FPM_ENTRY_TYPE,
    }


def _base_interface() -> str:
    from .shape.names import BASE_INTERFACE

    return BASE_INTERFACE


def _ere(text: str) -> str:
    """``text`` as a POSIX extended regular expression that matches only itself."""
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", text)


def _php_trigger_pattern(target: Target) -> str:
    pattern = "|".join(
        [_ere(str(target.php_fpm)), *(f"{_ere(str(d))}/[^/]+{_ere(suffix)}" for d, suffix in target.php_extensions)]
    )
    if "'" in pattern:  # it goes between single quotes in the trigger
        raise SitepolicyError(f"target {target.name}: a php-fpm path holds a quote: {pattern}")
    return pattern


def site_context(site: Site, target: Target, release: str = "1") -> dict[str, Any]:
    """The values every template of a site may use."""
    names = site.names
    run_dirs = [site.run_dir, PurePosixPath("/var") / site.run_dir.relative_to("/")]
    web_server = target.web_server(site.web_server)
    return {
        "site": site,
        "n": names,
        "t": {**{role or "domain": type_name for role, type_name in names.types.items()}, "mail": names.mail_helper},
        "target": target,
        "php_fpm": site.php_fpm or target.php_fpm,
        "web_server": web_server,  # .name, .group (reaches the socket), .package (creates the group)
        "web_conf_name": f"{names.package}.conf",
        "web_conf_path": f"{web_server.config_dir}/{names.package}.conf",
        "network": sorted(need.value for need in site.network),
        "mail": site.mail,  # None, or one of site.MAIL_METHODS
        "docroot_tree": _docroot_tree(site),
        "run_dirs": run_dirs,
        "policy_version": site.version,
        "release": release,
        "tool_version": __version__,
        "selinux_context": f"system_u:system_r:{names.domain}:s0",
        "runtime": runtime_context(target),
        "base_interface": _base_interface(),
        "site_identity": fingerprint.identity(site),
        # In the pool user's GECOS: %pre reuses an existing account only when it carries this.
        "account_marker": f"sitepolicy pool of {site.name}",
        "definition_fingerprint": fingerprint.definition(site),
    }


RELEASE_PLACEHOLDER = "@RELEASE@"  # stands for the release in a spec rendered before its release is known


@dataclass(frozen=True)
class SiteSources:
    """Everything a site's source package holds, rendered once: the policy module, the package files
    and the spec, whose release is left as RELEASE_PLACEHOLDER (the digest is taken before the release
    is chosen; the templates use ``release`` verbatim, so filling it in equals rendering with it)."""

    site: Site
    target: Target
    policy: Rendered
    files: Rendered
    spec_template: str

    @property
    def spec_name(self) -> str:
        return f"{self.site.names.package}.spec"

    def spec(self, release: str) -> str:
        return self.spec_template.replace(RELEASE_PLACEHOLDER, release)

    def write(self, directory: Path, release: str) -> Path:
        """Write the sources and the spec with ``release`` into ``directory``; return the spec's path."""
        self.policy.write(directory)
        self.files.write(directory)
        Rendered({self.spec_name: self.spec(release)}).write(directory)
        return directory / self.spec_name


def render_site(site: Site, target: Target) -> SiteSources:
    """The one render of a site per build: its digest and its package are both taken from this."""
    context = site_context(site, target, RELEASE_PLACEHOLDER)
    policy = render_site_module(site)
    files = _package_files(context, site, SPEC_TEMPLATES)
    spec = _spec(context, [*policy.files, *files.files], SPEC_TEMPLATES)
    return SiteSources(site, target, policy, files, spec)


def render_policy(site: Site, target: Target, templates: Path = POLICY_TEMPLATES) -> Rendered:
    """The module's .te, .fc and .if, named after the module."""
    return _policy(site_context(site, target), site, templates)


def _policy(context: dict[str, Any], site: Site, templates: Path) -> Rendered:
    env = _environment(templates)
    module = site.names.module
    return Rendered(
        {f"{module}.{ext}": env.get_template(f"site.{ext}.j2").render(context) for ext in ("te", "fc", "if")}
    )


# Files the -php-fpm package installs, rendered from specs/files/, keyed by template.
PACKAGE_FILES: dict[str, str] = {
    "php-fpm.service.j2": "{unit}",
    "php-fpm.conf.j2": "{package}-php-fpm.conf",  # the pool of {package}-php-fpm
    "tmpfiles.conf.j2": "{package}-tmpfiles.conf",
    "sysusers.conf.j2": "{package}-sysusers.conf",
    "logrotate.conf.j2": "{package}-logrotate.conf",
}


def _package_files(context: dict[str, Any], site: Site, templates: Path) -> Rendered:
    env = _environment(templates / "files")
    names = site.names
    files = {
        out.format(unit=names.unit, package=names.package): env.get_template(tpl).render(context)
        for tpl, out in PACKAGE_FILES.items()
    }
    # The site's server block (nginx) or virtual host (httpd), for the web server the definition names.
    web = context["web_server"]
    files[WEB_CONF_SOURCE.format(package=names.package)] = env.get_template(f"{web.name}.conf.j2").render(context)
    return Rendered(files)


WEB_CONF_SOURCE = "{package}-web.conf"


def _spec(context: dict[str, Any], sources: list[str], templates: Path) -> str:
    """The spec of the site's source package; ``sources`` lists its Source files in order."""
    return _environment(templates).get_template("site.spec.j2").render({**context, "sources": sources})


def render_template(template: str, **context: object) -> str:
    """One template of templates/ (new-site.yaml.j2, sites.repo.j2), given validated values."""
    return _environment(TEMPLATES).get_template(template).render(context)


def render_runtime(target: Target, release: str, templates: Path = SPEC_TEMPLATES) -> Rendered:
    """sitepolicy-selinux-runtime's reconcile script, the base module's sources (issue 11: its %build compiles
    them against the target's headers and basecil.py turns the result into the base CIL) and its spec."""
    from .shape import basecil
    from .shape.names import BASE_MODULE, base_names

    base = render_base(target)
    context = {**runtime_context(target, release), "base": base_context(target)["base"], "base_sources": base.files}
    return Rendered(
        {
            "reconcile": _environment(templates / "files").get_template("reconcile.j2").render(context),
            **base.files,
            "basecil.py": Path(basecil.__file__).read_text(),
            f"{BASE_MODULE}.names.json": base_names().to_json() + "\n",
            f"{RUNTIME_PACKAGE}.spec": _environment(templates).get_template("runtime.spec.j2").render(context),
        }
    )


def base_context(target: Target) -> dict[str, Any]:
    """The values base.te.j2 may use: sitepolicy's attribute and permission-set names."""
    from .shape import names as shape

    attributes: dict[str, Any] = {role or "domain": name for role, name in shape.ROLE_ATTRIBUTES.items()}
    attributes.update(
        docroot_home=shape.DOCROOT_ATTRIBUTES["/home"],
        docroot_opt=shape.DOCROOT_ATTRIBUTES["/opt"],
        docroot_default=shape.DOCROOT_ATTRIBUTES["/data"],
        network=shape.NETWORK_ATTRIBUTE,
        net=shape.NEED_ATTRIBUTES,
        mail=shape.MAIL_ATTRIBUTE,
        mail_sender=shape.MAIL_SENDER_ATTRIBUTE,
        mail_content=shape.MAIL_CONTENT_ATTRIBUTE,
    )
    return {
        "base": {"module": shape.BASE_MODULE},
        "a": attributes,
        "needs": list(shape.NEED_ATTRIBUTES),
        "p": shape.PERM_SETS,
        "pairs": shape.PAIRS,
        "target": target,
        "tool_version": __version__,
    }


def render_base(target: Target, templates: Path = POLICY_TEMPLATES) -> Rendered:
    """The base module's .te (and the empty .if and .fc the devel Makefile wants), for one target."""
    from .shape.names import BASE_MODULE

    te = _environment(templates).get_template("base.te.j2").render(base_context(target))
    return Rendered({f"{BASE_MODULE}.te": te, f"{BASE_MODULE}.if": "", f"{BASE_MODULE}.fc": ""})


def site_cil_context(site: Site) -> dict[str, Any]:
    """The values site.cil.j2 may use: the site's types, the attributes it joins, its file contexts."""
    from .package.filecontexts import intended
    from .shape import names as shape

    domain_attributes = []
    tree = _docroot_tree(site)
    if tree in shape.DOCROOT_ATTRIBUTES:
        domain_attributes.append(shape.DOCROOT_ATTRIBUTES[tree])
    if site.network:
        domain_attributes.append(shape.NETWORK_ATTRIBUTE)
    domain_attributes += [shape.NEED_ATTRIBUTES[need] for need in sorted(n.value for n in site.network)]
    types = {role or "domain": type_name for role, type_name in site.names.types.items()}
    mail = site.mail is not None
    if mail:
        domain_attributes.append(shape.MAIL_SENDER_ATTRIBUTE)
    return {
        "site": site,
        "t": types,
        "role_attributes": {role or "domain": name for role, name in shape.ROLE_ATTRIBUTES.items()},
        "domain_attributes": domain_attributes,
        "perm_sets": shape.PERM_SETS,
        "mail": {
            "type": site.names.mail_helper,
            "attribute": shape.MAIL_ATTRIBUTE,
            "content_attribute": shape.MAIL_CONTENT_ATTRIBUTE,
            "pair": shape.PAIRS["mail"],
        }
        if mail
        else None,
        "file_contexts": intended(site),
        "tool_version": __version__,
    }


def render_site_cil(site: Site, templates: Path = POLICY_TEMPLATES) -> Rendered:
    """The site's policy module as CIL, named after the module."""
    text = _environment(templates).get_template("site.cil.j2").render(site_cil_context(site))
    return Rendered({f"{site.names.module}.cil": text})


def render_site_module(site: Site, templates: Path = POLICY_TEMPLATES) -> Rendered:
    """What a site's -selinux package is built from (issue 11's shape): its CIL module and the file contexts
    reconcile relabels from (the module's filecons as .fc lines; the build proves the two the same)."""
    from .package.filecontexts import intended

    lines = [
        (e.regex, *([e.file_type] if e.file_type else []), f"system_u:object_r:{e.type}:s0") for e in intended(site)
    ]
    contexts = "".join("\t".join(line) + "\n" for line in lines)
    return Rendered({**render_site_cil(site, templates).files, f"{site.names.module}.contexts": contexts})
