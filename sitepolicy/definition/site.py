"""The site definition: load YAML, validate every field against an allow-list, freeze it.

Nothing past this module sees raw YAML. Every value that reaches a template has been checked here
against a pattern that admits only characters safe in .te, .fc, spec, unit and pool files.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ..errors import DefinitionError
from ..targets import WEB_SERVERS
from . import allowlists, yamlload
from .names import SiteNames

MAX_DEFINITION_BYTES = 16 * 1024

DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
UNIX_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")
PATH_COMPONENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$")
VERSION = re.compile(r"^[0-9]{1,6}(?:\.[0-9]{1,6}){0,3}$")

# Docroots live under the trees hosting companies use for site content; anything else (/, /etc,
# /usr, /var/lib ...) would relabel system files with a site type. The rules: allowlists.py.
DOCROOT_TREES: tuple[PurePosixPath, ...] = tuple(t.root for t in allowlists.DOCROOT_TREES)

# Accounts that belong to the system, the web server or common services: a pool must never run as one.
RESERVED_ACCOUNTS = frozenset(
    """root bin daemon adm lp sync shutdown halt mail news uucp operator games gopher ftp nobody
    nogroup wheel sudo users staff shadow utmp tty disk kmem dialout cdrom floppy audio video plugdev
    netdev systemd-journal systemd-network systemd-resolve systemd-timesync systemd-coredump dbus
    messagebus polkitd sshd chrony ntp rpc rpcuser postfix exim mysql postgres redis memcached
    nginx apache www-data http php-fpm tss unbound sssd setroubleshoot""".split()
)

MAX_WRITABLE_DIRS = 32
ENFORCING = "enforcing"
PERMISSIVE = "permissive"  # a trial: the site's domain is built permissive (logs, denies nothing)
MODES = (ENFORCING, PERMISSIVE)
MAX_CHILDREN_RANGE = (1, 512)


class Network(enum.Enum):
    """Outbound connections a site may make, each a named set of ports in the base policy."""

    DATABASE = "database"  # MySQL/MariaDB and PostgreSQL
    SMTP = "smtp"
    HTTP = "http"  # http and https (webhooks, APIs)
    REDIS = "redis"
    MEMCACHE = "memcache"


# How a site may send mail. sendmail: PHP's mail() runs `/bin/sh -c "sendmail -t -i"`; the shell enters a
# helper domain that may only run the target's sendmail (policy-templates/site.te.j2).
MAIL_METHODS: tuple[str, ...] = ("sendmail",)

FIELDS: dict[str, str] = {
    "site": "the site's DNS name; the file must be named <site>.yaml",
    "docroot": "absolute path of the document root",
    "user": "Unix user the pool's workers run as",
    "group": "Unix group of the pool (default: same as user)",
    "php_fpm": "php-fpm binary (default: the target distribution's)",
    "writable": "directories under the docroot the site may write (relative paths)",
    "network": "outbound network needs: " + ", ".join(n.value for n in Network),
    "max_children": "most worker processes at once",
    "version": "version of the site's packages",
    "web_server": "the web server in front of the site: " + " or ".join(WEB_SERVERS) + " (default: the target's)",
    "mail": "how PHP's mail() may send: " + ", ".join(MAIL_METHODS) + " (default: no mail)",
    "mode": "enforcing, or permissive for a trial run (the site's domain denies nothing; not isolated)",
}


@dataclass(frozen=True)
class Site:
    """One validated site definition."""

    name: str
    docroot: PurePosixPath
    user: str
    group: str
    writable: tuple[PurePosixPath, ...] = ()
    network: frozenset[Network] = frozenset()
    php_fpm: PurePosixPath | None = None
    max_children: int = 5
    version: str = "1.0"
    web_server: str | None = None  # one of targets.WEB_SERVERS; None: the target's default
    mail: str | None = None  # one of MAIL_METHODS; None: a shell started by the site stays denied
    mode: str = ENFORCING  # PERMISSIVE: a trial run, the domain is built permissive and is not isolated
    source: Path = field(default=Path("<memory>"), compare=False)

    @property
    def names(self) -> SiteNames:
        return SiteNames(self.name)

    @property
    def permissive(self) -> bool:
        """A trial run: the definition asks for its domain to be permissive (not isolated)."""
        return self.mode == PERMISSIVE

    @property
    def writable_dirs(self) -> tuple[PurePosixPath, ...]:
        return tuple(self.docroot / rel for rel in self.writable)

    @property
    def state_dir(self) -> PurePosixPath:
        return PurePosixPath("/var/lib/sitepolicy") / self.name

    @property
    def sessions_dir(self) -> PurePosixPath:
        return self.state_dir / "sessions"

    @property
    def tmp_dir(self) -> PurePosixPath:
        return self.state_dir / "tmp"

    @property
    def upload_tmp_dir(self) -> PurePosixPath:
        """PHP's upload_tmp_dir: labelled with the site's writable type, so that move_uploaded_file() (a rename
        on the same file system, a copy across) leaves a file the web server may serve."""
        return self.tmp_dir / "uploads"

    @property
    def log_dir(self) -> PurePosixPath:
        return PurePosixPath("/var/log/sitepolicy") / self.name

    @property
    def run_dir(self) -> PurePosixPath:
        return PurePosixPath("/run") / self.names.package

    @property
    def socket(self) -> PurePosixPath:
        return self.run_dir / "php-fpm.sock"

    @property
    def config_dir(self) -> PurePosixPath:
        return PurePosixPath("/etc/sitepolicy") / self.name

    @property
    def fpm_config(self) -> PurePosixPath:
        return self.config_dir / "php-fpm.conf"

    @property
    def relabel_paths(self) -> tuple[PurePosixPath, ...]:
        """Every path the site's file contexts cover: what restorecon may touch, and nothing more."""
        return (self.docroot, self.sessions_dir, self.tmp_dir, self.log_dir, self.run_dir, self.config_dir)

    @property
    def owned_paths(self) -> tuple[PurePosixPath, ...]:
        """Paths no other site may share, contain or be contained in."""
        return (self.docroot, self.state_dir, self.log_dir, self.run_dir, self.config_dir)


# --------------------------------------------------------------------------- validation helpers


def _check_dns_name(file: Path, value: object) -> str:
    allowed = (
        "a lowercase DNS name: two or more labels of a-z, 0-9 and '-' joined by '.', each 1-63 "
        "characters, not starting or ending with '-', at most 253 characters, top-level label not all digits"
    )
    if not isinstance(value, str) or len(value) > 253:
        raise DefinitionError(file, "site", value, allowed)
    labels = value.split(".")
    if len(labels) < 2 or not all(DNS_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise DefinitionError(file, "site", value, allowed)
    return value


def _check_absolute_path(file: Path, name: str, value: object) -> PurePosixPath:
    allowed = (
        "an absolute, normalised path (no '.', '..', '//' or trailing '/') whose components use only "
        "A-Z a-z 0-9 . _ + - and do not start with '.', '+' or '-'"
    )
    if not isinstance(value, str) or not value.startswith("/") or value == "/" or value.endswith("/"):
        raise DefinitionError(file, name, value, allowed)
    parts = value.split("/")[1:]
    if not all(PATH_COMPONENT.fullmatch(p) for p in parts) or len(value) > 1024:
        raise DefinitionError(file, name, value, allowed)
    return PurePosixPath(value)


def _check_relative_path(file: Path, name: str, value: object) -> PurePosixPath:
    allowed = (
        "a normalised path relative to the docroot (no leading '/', no '.', '..', '//' or trailing "
        "'/') whose components use only A-Z a-z 0-9 . _ + - and do not start with '.', '+' or '-'"
    )
    if not isinstance(value, str) or not value or value.startswith("/") or value.endswith("/"):
        raise DefinitionError(file, name, value, allowed)
    if not all(PATH_COMPONENT.fullmatch(p) for p in value.split("/")) or len(value) > 512:
        raise DefinitionError(file, name, value, allowed)
    return PurePosixPath(value)


def _check_account(file: Path, name: str, value: object) -> str:
    allowed = (
        "a Unix name of 1-31 characters: a-z, 0-9, '_' and '-', starting with a letter or '_', "
        "and not a system, web server or service account (" + ", ".join(sorted(RESERVED_ACCOUNTS)[:8]) + ", ...)"
    )
    if not isinstance(value, str) or not UNIX_NAME.fullmatch(value) or value in RESERVED_ACCOUNTS:
        raise DefinitionError(file, name, value, allowed)
    reason = allowlists.reserved_account(value)
    if reason is not None:
        raise DefinitionError(
            file,
            name,
            value,
            f"a name of the site's own ({value} is {reason}; e.g. {allowlists.GENERATED_ACCOUNT_PREFIX}<site>)",
        )
    return value


def _check_docroot(file: Path, value: object) -> PurePosixPath:
    path = _check_absolute_path(file, "docroot", value)
    problem = allowlists.docroot_problem(path)
    if problem is not None:
        raise DefinitionError(file, "docroot", value, problem)
    return path


def _check_php_fpm(file: Path, value: object) -> PurePosixPath | None:
    if value is None:
        return None
    path = _check_absolute_path(file, "php_fpm", value)
    if not allowlists.php_fpm_allowed(path):
        raise DefinitionError(file, "php_fpm", value, allowlists.php_fpm_rule())
    return path


def _check_writable(file: Path, value: object) -> tuple[PurePosixPath, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_WRITABLE_DIRS:
        raise DefinitionError(
            file, "writable", value, f"a list of at most {MAX_WRITABLE_DIRS} relative paths, e.g. [uploads, cache]"
        )
    paths = tuple(_check_relative_path(file, f"writable[{i}]", v) for i, v in enumerate(value))
    if len(set(paths)) != len(paths):
        raise DefinitionError(file, "writable", value, "each directory listed once")
    return paths


def _check_network(file: Path, value: object) -> frozenset[Network]:
    choices = ", ".join(n.value for n in Network)
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise DefinitionError(file, "network", value, f"a list chosen from: {choices}")
    needs: set[Network] = set()
    for i, item in enumerate(value):
        try:
            needs.add(Network(item))
        except ValueError:
            raise DefinitionError(file, f"network[{i}]", item, f"one of: {choices}") from None
    return frozenset(needs)


def _check_int(file: Path, name: str, value: object, low: int, high: int) -> int:
    # yamlload.py reads only plain decimal digits as a number: 010 (octal in YAML 1.1), 1:30 (base 60),
    # 0x1f and 1_000 stay text, and are refused here.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DefinitionError(file, name, value, f"a whole number from {low} to {high}, in decimal digits")
    return value


def _check_version(file: Path, value: object) -> str:
    # A string as written: YAML 1.1 would read 1.10 as the float 1.1 (a downgrade), 010 as 8, 1:30 as 90.
    if not isinstance(value, str) or not VERSION.fullmatch(value):
        raise DefinitionError(
            file,
            "version",
            value,
            "a string of 1 to 4 dot-separated numbers, e.g. '1.0' (a bare 2 is a number: write '2')",
        )
    return value


def _check_web_server(file: Path, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in WEB_SERVERS:
        raise DefinitionError(
            file,
            "web_server",
            value,
            "one of " + ", ".join(WEB_SERVERS) + " (it decides the group that may reach the site's socket)",
        )
    return value


def _check_mail(file: Path, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in MAIL_METHODS:
        raise DefinitionError(
            file,
            "mail",
            value,
            "one of " + ", ".join(MAIL_METHODS) + " (PHP's mail() through the target's sendmail), or leave it out",
        )
    return value


def _check_mode(file: Path, value: object) -> str:
    if value is None:
        return ENFORCING
    if not isinstance(value, str) or value not in MODES:
        raise DefinitionError(
            file,
            "mode",
            value,
            "enforcing (the default) or permissive (a trial run: the domain logs what it would be denied "
            "and denies nothing, so the site is NOT isolated; publish refuses it without --allow-permissive)",
        )
    return value


# --------------------------------------------------------------------------- loading


def site_from_mapping(data: Mapping[str, Any], file: Path) -> Site:
    """Validate an already parsed definition; ``file`` is named in every error."""
    unknown = sorted(set(data) - set(FIELDS), key=str)
    if unknown:
        raise DefinitionError(file, str(unknown[0]), data[unknown[0]], "known fields are " + ", ".join(FIELDS))
    for required in ("site", "docroot", "user"):
        if required not in data:
            raise DefinitionError(file, required, None, f"required ({FIELDS[required]})")
    name = _check_dns_name(file, data["site"])
    if file.name != "<memory>" and file.name != f"{name}.yaml":
        raise DefinitionError(file, "site", name, f"the file name {name}.yaml (the definition is {file.name})")
    user = _check_account(file, "user", data["user"])
    group = _check_account(file, "group", data.get("group", user))
    site = Site(
        name=name,
        docroot=_check_docroot(file, data["docroot"]),
        user=user,
        group=group,
        writable=_check_writable(file, data.get("writable")),
        network=_check_network(file, data.get("network")),
        php_fpm=_check_php_fpm(file, data.get("php_fpm")),
        max_children=_check_int(file, "max_children", data.get("max_children", 5), *MAX_CHILDREN_RANGE),
        version=_check_version(file, data.get("version", "1.0")),
        web_server=_check_web_server(file, data.get("web_server")),
        mail=_check_mail(file, data.get("mail")),
        mode=_check_mode(file, data.get("mode")),
        source=file,
    )
    for field_name, allowed in allowlists.length_problems(site):
        raise DefinitionError(file, field_name, getattr(site, "name" if field_name == "site" else field_name), allowed)
    return site


def load_site(file: Path) -> Site:
    """Read and validate one ``sites.d/<site>.yaml``."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DefinitionError(file, "(file)", str(file), f"a readable file ({exc.strerror})") from exc
    if len(raw) > MAX_DEFINITION_BYTES:
        raise DefinitionError(file, "(file)", f"{len(raw)} bytes", f"at most {MAX_DEFINITION_BYTES} bytes")
    try:
        data = yamlload.load(raw.decode("utf-8"))
    except yamlload.YamlRefused as exc:
        raise DefinitionError(
            file, "(file)", exc.where, f"plain YAML: it has {exc.what}; no anchors, aliases, tags or repeated keys"
        ) from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DefinitionError(file, "(file)", detail, "valid UTF-8 YAML") from None
    except (RecursionError, MemoryError) as exc:
        raise DefinitionError(file, "(file)", type(exc).__name__, "a small, flat YAML mapping") from None
    if not isinstance(data, dict):
        raise DefinitionError(file, "(file)", type(data).__name__, "a YAML mapping of fields: " + ", ".join(FIELDS))
    return site_from_mapping(data, file)


def _overlap(a: PurePosixPath, b: PurePosixPath) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def _colliding_pairs(ordered: Sequence[Site]) -> list[tuple[int, int]]:
    """(later, earlier) index pairs of sites that share a name, a path, a socket, a user or a group.

    Index every name, account, socket and path first (a path is also looked up by each of its
    parents), so hundreds of sites cost milliseconds, not a comparison of every pair.
    """
    keys: dict[tuple[str, str], set[int]] = {}

    def index(kind: str, value: object, i: int) -> None:
        keys.setdefault((kind, str(value)), set()).add(i)

    for i, site in enumerate(ordered):
        for name in site.names.all_names().values():
            index("name", name, i)
        for account in {site.user, site.group}:
            index("account", account, i)
        index("socket", site.socket, i)
        for path in site.owned_paths:
            index("path", path, i)
    pairs: set[tuple[int, int]] = set()
    for owners in keys.values():
        if len(owners) > 1:
            pairs.update((i, j) for i in owners for j in owners if j < i)
    for i, site in enumerate(ordered):
        for path in site.owned_paths:
            for parent in path.parents:
                pairs.update((max(i, j), min(i, j)) for j in keys.get(("path", str(parent)), ()) if j != i)
    return sorted(pairs)


def check_distinct(sites: Iterable[Site]) -> None:
    """Refuse any two sites that would share a name, a path, a socket, a user or a group.

    A clash is reported for the first pair in definition order, as comparing each site with those
    before it would.
    """
    ordered = list(sites)
    for i, j in _colliding_pairs(ordered):
        _refuse_shared(ordered[i], ordered[j])


def collisions(sites: Sequence[Site]) -> list[DefinitionError]:
    """Every clash, reported for both sides: each site of a colliding pair gets its own error."""
    errors = []
    for i, j in _colliding_pairs(list(sites)):
        for site, other in ((sites[i], sites[j]), (sites[j], sites[i])):
            try:
                _refuse_shared(site, other)
            except DefinitionError as exc:
                errors.append(exc)
    return errors


def _refuse_shared(site: Site, other: Site) -> None:
    def refuse(field_name: str, value: object, what: str) -> None:
        raise DefinitionError(
            site.source, field_name, value, f"{what} not shared with site {other.name} ({other.source})"
        )

    mine = site.names.all_names()
    theirs = set(other.names.all_names().values())
    for what, name in mine.items():
        if name in theirs:
            refuse("site", site.name, f"a {what} name ({name})")
    for path in site.owned_paths:
        for other_path in other.owned_paths:
            if _overlap(path, other_path):
                field_name = "docroot" if path == site.docroot else "site"
                refuse(field_name, str(path), f"a path that is neither {other_path} nor inside or above it")
    if site.socket == other.socket:
        refuse("site", str(site.socket), "a socket")
    if {site.user, site.group} & {other.user, other.group}:
        field_name = "user" if site.user in {other.user, other.group} else "group"
        value = site.user if field_name == "user" else site.group
        refuse(field_name, value, "a pool user and group")


def definition_files(sites_dir: Path) -> list[Path]:
    return sorted(p for p in sites_dir.glob("*.yaml") if p.is_file())


def load_sites(sites_dir: Path) -> list[Site]:
    """Every definition in ``sites_dir``, validated, and refused together if any two collide."""
    if not sites_dir.is_dir():
        raise DefinitionError(sites_dir, "(directory)", str(sites_dir), "an existing directory of <site>.yaml files")
    sites = [load_site(path) for path in definition_files(sites_dir)]
    check_distinct(sites)
    return sites


def select_sites(sites: list[Site], names: Iterable[str], sites_dir: Path) -> list[Site]:
    by_name = {site.name: site for site in sites}
    chosen = []
    for name in names:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise DefinitionError(sites_dir / f"{name}.yaml", "(file)", name, f"a defined site (defined: {known})")
        chosen.append(by_name[name])
    return chosen
