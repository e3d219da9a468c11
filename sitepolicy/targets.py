"""Target profiles: what differs between the operating systems a site package is built for."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import TargetError

HOST_DEVEL_DIR = Path("/usr/share/selinux/devel")

# The web servers a site may name in its definition (web_server:). Both run as httpd_t.
WEB_SERVERS = ("nginx", "httpd")


@dataclass(frozen=True)
class WebServer:
    """A web server as one target packages it: the group its workers run in reaches the sites' sockets."""

    name: str  # as a definition names it: one of WEB_SERVERS
    group: str
    package: str  # the distribution's package, which creates the group
    config_dir: str = ""  # where the server reads a site's configuration (the -php-fpm package installs it)
    log_dir: str = ""  # the server's own log directory (httpd_log_t): the site's access and error logs
    enable_note: str = ""  # what the admin must do for the server to read it ("": it reads it as installed)


# The type the site domains may enter (base.te.j2: domain_entry_file): every target's php-fpm must carry it.
PHP_FPM_ENTRY_TYPE = "httpd_exec_t"


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    dist: str  # rpm's %{dist}; Debian's rpm defines none, so every build passes it. "": the release's (with_dist)
    store: str  # SELINUXTYPE of the policy the host runs
    php_fpm: Path  # the distribution's php-fpm binary (labelled httpd_exec_t by the base policy)
    php_fpm_package: str  # what the -php-fpm package requires for that binary
    # What else every pool loads at start, as (directory, file suffix): the PHP extensions and the ini files
    # that enable them. Installed or upgraded by a package, they reach a pool only when it restarts.
    php_extensions: tuple[tuple[Path, str], ...]
    web_servers: tuple[WebServer, ...]  # one per name in WEB_SERVERS; the first is the default
    useradd_package: str  # provides useradd/groupadd for %pre
    module_format: int | None  # checkmodule -c: the newest module format the target's libsepol reads
    mock_config: str | None  # mock's name for the exact build root, where mock serves this target
    os_release: tuple[tuple[str, str], ...]  # (ID, VERSION_ID major) pairs that identify a host as this target

    @property
    def default_web_server(self) -> WebServer:
        return self.web_servers[0]

    @property
    def web_group(self) -> str:
        """The default web server's group."""
        return self.default_web_server.group

    def web_server(self, name: str | None) -> WebServer:
        """The web server ``name`` (a validated definition's web_server), or the target's default for None."""
        if name is None:
            return self.default_web_server
        for server in self.web_servers:
            if server.name == name:
                return server
        raise TargetError(f"target {self.name} knows no web server {name!r} (known: {', '.join(WEB_SERVERS)})")


def _enterprise_linux(major: int, module_format: int | None) -> Target:
    """RHEL and its rebuilds: one layout on every major release, mock's AlmaLinux+EPEL root."""
    return _red_hat(
        name=f"el{major}",
        description=f"RHEL, AlmaLinux, Rocky Linux {major}",
        dist=f".el{major}",
        module_format=module_format,
        mock_config=f"alma+epel-{major}-x86_64",
        os_release=tuple((os_id, str(major)) for os_id in ("rhel", "almalinux", "rocky", "centos")),
    )


def _red_hat(**differences: Any) -> Target:
    """What Fedora and EL share: the targeted policy, php-fpm in /usr/sbin, nginx (group nginx) or httpd
    (group apache), shadow-utils."""
    common = {
        "store": "targeted",
        "php_fpm": Path("/usr/sbin/php-fpm"),
        "php_fpm_package": "php-fpm",
        "php_extensions": ((Path("/usr/lib64/php/modules"), ".so"), (Path("/etc/php.d"), ".ini")),
        "web_servers": (
            WebServer("nginx", "nginx", "nginx", "/etc/nginx/conf.d", "/var/log/nginx"),
            WebServer("httpd", "apache", "httpd", "/etc/httpd/conf.d", "/var/log/httpd"),
        ),
        "useradd_package": "shadow-utils",
    }
    return Target(**{**common, **differences})


PROFILES: dict[str, Target] = {
    t.name: t
    for t in (
        # libsepol 2.9 reads module formats up to 19.
        _enterprise_linux(8, module_format=19),
        # EL 9.0 shipped libsepol 3.3 (formats up to 20); 19 is read by every EL 9 minor release.
        _enterprise_linux(9, module_format=19),
        _enterprise_linux(10, module_format=None),
        _red_hat(
            name="fedora",
            description="Fedora (current releases)",
            dist="",  # .fcNN: the Fedora host's own %{dist}, or --dist (with_dist)
            module_format=None,
            mock_config="fedora-rawhide-x86_64",
            os_release=(("fedora", ""),),
        ),
        Target(
            name="debian12",
            description="Debian 12 (bookworm) with selinux-policy-default",
            dist=".deb12",
            store="default",
            php_fpm=Path("/usr/sbin/php-fpm8.2"),
            php_fpm_package="php8.2-fpm",
            php_extensions=((Path("/usr/lib/php/20220829"), ".so"), (Path("/etc/php/8.2/mods-available"), ".ini")),
            web_servers=(
                WebServer(
                    "nginx",
                    "www-data",
                    "nginx",
                    "/etc/nginx/sites-available",
                    "/var/log/nginx",
                    "ln -s ../sites-available/{conf} /etc/nginx/sites-enabled/ && systemctl reload nginx",
                ),
                WebServer(
                    "httpd",
                    "www-data",
                    "apache2",
                    "/etc/apache2/sites-available",
                    "/var/log/apache2",
                    "a2enmod proxy_fcgi && a2ensite {stem} && systemctl reload apache2",
                ),
            ),
            useradd_package="passwd",
            module_format=None,
            mock_config=None,
            os_release=(("debian", "12"),),
        ),
    )
}


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("'\"")
    return values


def host_target(os_release: Path = Path("/etc/os-release")) -> Target:
    """The profile of the machine we run on: the default target, built against its own headers."""
    try:
        info = parse_os_release(os_release.read_text())
    except OSError as exc:
        raise TargetError(f"cannot read {os_release} to find the host's target: {exc}") from exc
    os_id = info.get("ID", "")
    major = info.get("VERSION_ID", "").split(".")[0]
    for target in PROFILES.values():
        for known_id, known_major in target.os_release:
            if os_id == known_id and known_major in ("", major):
                return target
    raise TargetError(
        f"this host ({info.get('PRETTY_NAME', os_id or 'unknown OS')}) matches no target profile; "
        f"choose one with --target ({', '.join(PROFILES)}) and give its policy headers with --headers DIR"
    )


def get_target(name: str) -> Target:
    try:
        return PROFILES[name]
    except KeyError:
        raise TargetError(f"unknown target {name!r}; known targets: {', '.join(PROFILES)}") from None


# rpm's %{dist}: a dot, letters, the release number, optionally _minor (.el9, .el9_3, .fc41, .deb12).
DIST = re.compile(r"^\.[a-z]+[0-9]+(?:_[0-9]+)?$")
FEDORA_DIST = re.compile(r"^\.fc[0-9]+$")


def host_dist() -> str:
    """This host's %{dist} as its rpm defines it ("" where rpm defines none, e.g. Debian)."""
    try:
        proc = subprocess.run(["rpm", "--eval", "%{?dist}"], capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def with_dist(
    target: Target, explicit: str | None, host: str | None, host_dist: Callable[[], str] = host_dist
) -> Target:
    """``target`` with the dist tag its packages get: ``--dist`` if given, else the profile's; Fedora's
    carries the release (.fc41), so it is the Fedora host's own %{dist}, or must be given.

    ``host``: the name of this host's target (None when it matches none).
    """
    if explicit:
        if not DIST.fullmatch(explicit):
            raise TargetError(f"--dist {explicit!r}: rpm's %{{dist}}, e.g. .el9, .el9_4, .fc41")
        if target.name == "fedora" and not FEDORA_DIST.fullmatch(explicit):
            raise TargetError(f"--dist {explicit!r}: Fedora's dist tag is .fcNN, the release number (e.g. .fc41)")
        return replace(target, dist=explicit)
    if target.dist:
        return target
    if host == target.name:
        found = host_dist()
        if FEDORA_DIST.fullmatch(found):
            return replace(target, dist=found)
    raise TargetError(
        f"target {target.name} needs --dist .fcNN, the Fedora release the packages are for (e.g. --dist .fc41): "
        "its dist tag carries the release number, and a package tagged only .fc would sort below a mock or Koji "
        "build of the same release. On a Fedora host the host's own %{dist} is taken"
    )
