"""What a definition may name beyond its characters: accounts, docroots, php-fpm binaries, name lengths.

Each rule here is a hole a hostile definition used (issue 13): a system account or a privileged
group for the pool, a docroot that claims a shared or system tree, a php-fpm that is a file the
site itself writes, a name whose socket path cannot exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # site.py imports this module
    from .site import Site

# ----------------------------------------------------------------------------- accounts

# System accounts and privileged groups, per target family. A definition may be built for any target,
# so a name reserved on one is refused everywhere (see reserved_account()).
_COMMON = """root bin daemon adm lp sync shutdown halt mail news uucp operator games gopher ftp nobody nogroup
    nfsnobody wheel sudo sys users staff shadow utmp tty disk kmem tape dialout cdrom floppy audio video
    plugdev netdev input render kvm sgx lock docker libvirt libvirt-qemu qemu lxd incus podman ssl-cert
    systemd-journal dbus messagebus polkitd sshd chrony ntp rpc rpcuser postfix postdrop exim mysql mariadb
    postgres redis memcached nginx apache www-data http php-fpm tss unbound sssd setroubleshoot avahi
    saslauth mailnull smmsp dnsmasq colord geoclue pipewire rtkit pulse gdm lightdm usbmux clamav named bind
    squid haproxy varnish tomcat jenkins git gitlab nagios zabbix prometheus grafana elasticsearch
    kibana rabbitmq mongodb cockpit-ws cockpit-wsinstance admin administrator""".split()
SYSTEM_ACCOUNTS: dict[str, frozenset[str]] = {
    "el": frozenset(
        _COMMON
        + """printadmin mock ftpuser dip cgred libstoragemgmt clevis pesign flatpak gluster ceph
        unbound chrony tcpdump abrt rngd sanlock cockpit sssd_kcm""".split()
    ),
    "debian": frozenset(
        _COMMON
        + """man proxy backup list irc gnats src crontab mlocate voice fax sasl scanner lpadmin
        sambashare netdev bluetooth debian-exim Debian-exim debian-tor statd uuidd tcpdump
        messagebus systemd-network systemd-resolve systemd-timesync systemd-coredump""".split()
    ),
}
# Conventions for system account names: systemd's own, Debian's "_name" and "Debian-name".
SYSTEM_ACCOUNT_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^systemd-"),
    re.compile(r"^_"),
    re.compile(r"^debian-", re.IGNORECASE),
)
# The prefix of the pool account names sitepolicy generates (new-site).
GENERATED_ACCOUNT_PREFIX = "sp_"


def target_family(target_name: str) -> str:
    return "debian" if target_name.startswith("debian") else "el"


def reserved_account(name: str) -> str | None:
    """Why ``name`` may not be a pool user or group (None: it may)."""
    families = sorted(f for f, names in SYSTEM_ACCOUNTS.items() if name in names)
    if families:
        return f"a system account or privileged group on {' and '.join(families)} targets"
    for pattern in SYSTEM_ACCOUNT_PATTERNS:
        if pattern.search(name):
            return f"a system account name by convention ({pattern.pattern[1:]}...)"
    return None


# ----------------------------------------------------------------------------- docroots


@dataclass(frozen=True)
class DocrootTree:
    root: PurePosixPath
    min_below: int  # components a docroot needs below root


DOCROOT_TREES: tuple[DocrootTree, ...] = (
    DocrootTree(PurePosixPath("/srv"), 2),
    DocrootTree(PurePosixPath("/var/www"), 1),
    DocrootTree(PurePosixPath("/opt"), 2),
    DocrootTree(PurePosixPath("/data"), 2),
    DocrootTree(PurePosixPath("/web"), 2),
)
# Shared or system subtrees of those trees: the web server's default directories, vendor software.
SYSTEM_SUBTREES: tuple[PurePosixPath, ...] = tuple(
    PurePosixPath(p)
    for p in (
        "/var/www/cgi-bin",
        "/opt/rh",
        "/opt/remi",
        "/opt/puppetlabs",
        "/opt/containerd",
        "/opt/cni",
        "/opt/google",
        "/opt/microsoft",
        "/opt/digitalocean",
        "/opt/aws",
        "/opt/sitepolicy",
    )
)
# Directories that may hold docroots below them but never be one.
SHARED_DIRECTORIES: tuple[PurePosixPath, ...] = tuple(
    PurePosixPath(p) for p in ("/var/www/html", "/var/www/icons", "/var/www/error", "/var/www/manual")
)
HOME_REASON = (
    "docroots under /home are refused: the policy's file_contexts.homedirs (e.g. /home/[^/]+/.+) wins "
    "over a site module's file contexts, so the site's types would never apply there"
)


def docroot_rule() -> str:
    trees = ", ".join(
        f"{t.root} ({t.min_below} component{'s' if t.min_below > 1 else ''} below)" for t in DOCROOT_TREES
    )
    shared = ", ".join(str(p) for p in SHARED_DIRECTORIES)
    system = ", ".join(str(p) for p in SYSTEM_SUBTREES)
    return (
        f"a directory below one of {trees}, e.g. /srv/www/<site>; not {shared} themselves, "
        f"nothing in {system}, nothing under /home"
    )


def docroot_problem(path: PurePosixPath) -> str | None:
    """Why ``path`` may not be a docroot (None: it may)."""
    if path == PurePosixPath("/home") or path.is_relative_to("/home"):
        return HOME_REASON
    for subtree in SYSTEM_SUBTREES:
        if path == subtree or path.is_relative_to(subtree):
            return f"{subtree} is a system subtree; " + docroot_rule()
    if path in SHARED_DIRECTORIES:
        return f"{path} is shared by the web server; " + docroot_rule()
    for tree in DOCROOT_TREES:
        if path.is_relative_to(tree.root):
            if len(path.parts) - len(tree.root.parts) >= tree.min_below:
                return None
            return docroot_rule()
    return docroot_rule()


def docroot_tree(path: PurePosixPath) -> PurePosixPath:
    for tree in DOCROOT_TREES:
        if path.is_relative_to(tree.root):
            return tree.root
    raise ValueError(f"{path} is below none of the docroot trees")


# ----------------------------------------------------------------------------- php-fpm binaries

# The php-fpm binaries a target ships, and the documented vendor locations (Software Collections,
# Remi's parallel-installable packages; Debian/Ubuntu's versioned binary). Every one is below
# /usr or /opt/rh, /opt/remi, which no docroot may be in (SYSTEM_SUBTREES), and is labelled
# httpd_exec_t by the base policy (tests/test_allowlists.py checks the targets' file contexts).
PHP_FPM_BINARIES: dict[str, tuple[re.Pattern[str], ...]] = {
    "el": (
        re.compile(r"^/usr/sbin/php-fpm$"),
        re.compile(r"^/opt/rh/(?:rh-)?php[0-9]{2}/root/usr/sbin/php-fpm$"),
        re.compile(r"^/opt/remi/php[0-9]{2}/root/usr/sbin/php-fpm$"),
    ),
    "debian": (
        re.compile(r"^/usr/sbin/php-fpm$"),
        re.compile(r"^/usr/sbin/php-fpm[5-9]\.[0-9]$"),
    ),
}


def php_fpm_rule(family: str | None = None) -> str:
    families = [family] if family else sorted(PHP_FPM_BINARIES)
    examples = {
        "el": "/usr/sbin/php-fpm, /opt/rh/rh-php73/root/usr/sbin/php-fpm (SCL), "
        "/opt/remi/php82/root/usr/sbin/php-fpm (Remi)",
        "debian": "/usr/sbin/php-fpm8.2",
    }
    return "a php-fpm binary of the target or a documented vendor location: " + "; ".join(examples[f] for f in families)


def php_fpm_allowed(path: PurePosixPath, family: str | None = None) -> bool:
    """Whether ``path`` is a known php-fpm binary (of the target family ``family``, or of any)."""
    families: Iterable[str] = [family] if family else PHP_FPM_BINARIES
    return any(p.fullmatch(str(path)) for f in families for p in PHP_FPM_BINARIES[f])


# ----------------------------------------------------------------------------- lengths

SUN_PATH_BYTES = 108  # struct sockaddr_un.sun_path, including the terminating NUL
NAME_MAX = 255  # a file name (one path component)
PATH_MAX = 4095  # a path, without the NUL
UNIT_NAME_MAX = 255  # systemd: UNIT_NAME_MAX 256 with the NUL
RPM_FILE_BUDGET = "-999999.999999.999999.999999-999999999.deb12.noarch.rpm"  # longest version-release-dist tail


def length_problems(site: Site) -> list[tuple[str, str]]:
    """(field, what is too long) for every path, unit, socket and file name the site produces that cannot exist."""
    n = site.names
    problems: list[tuple[str, str]] = []
    socket = str(site.socket).encode()
    if len(socket) + 1 > SUN_PATH_BYTES:
        longest = SUN_PATH_BYTES - 1 - (len(socket) - len(site.name.encode()))
        problems.append(
            (
                "site",
                f"at most {longest} characters: the php-fpm socket {site.socket} needs {len(socket) + 1} "
                f"bytes and sun_path holds {SUN_PATH_BYTES} (with the NUL)",
            )
        )
    if len(n.unit) > UNIT_NAME_MAX:
        problems.append(("site", f"a shorter name: the unit name {n.unit[:40]}... exceeds {UNIT_NAME_MAX} characters"))
    files = {
        "site": [
            f"{n.module}.pp.bz2",
            f"{n.module}.fc",
            f"{n.package}-php-fpm.conf",
            f"{n.package}-tmpfiles.conf",
            f"{n.php_fpm_package}{RPM_FILE_BUDGET}",
            f"{n.selinux_package}{RPM_FILE_BUDGET}",
        ],
    }
    for field_name, names in files.items():
        for name in names:
            if len(name.encode()) > NAME_MAX:
                problems.append((field_name, f"a shorter name: the file name {name[:40]}... exceeds {NAME_MAX} bytes"))
    paths = [("docroot", p) for p in (site.docroot, *site.writable_dirs)] + [
        ("site", p) for p in (site.sessions_dir, site.tmp_dir, site.log_dir, site.run_dir, site.fpm_config)
    ]
    for field_name, path in paths:
        text = str(path).encode()
        too_long = [c for c in path.parts if len(c.encode()) > NAME_MAX]
        if too_long or len(text) > PATH_MAX:
            problems.append((field_name, f"paths of at most {PATH_MAX} bytes, components of at most {NAME_MAX}"))
    return problems


def check_for_target(sites: Iterable[Site], target_name: str) -> None:
    """Refuse, before a build for ``target_name``, a php_fpm that is not one of that target's binaries."""
    from ..errors import DefinitionError

    family = target_family(target_name)
    for site in sites:
        if site.php_fpm is not None and not php_fpm_allowed(site.php_fpm, family):
            raise DefinitionError(
                site.source, "php_fpm", str(site.php_fpm), f"for target {target_name}, {php_fpm_rule(family)}"
            )
