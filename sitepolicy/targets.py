"""Target profiles: what differs between the operating systems a site package is built for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import TargetError

HOST_DEVEL_DIR = Path("/usr/share/selinux/devel")


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    dist: str  # rpm's %{dist}; Debian's rpm defines none, so every build passes it
    store: str  # SELINUXTYPE of the policy the host runs
    php_fpm: Path  # the distribution's php-fpm binary (labelled httpd_exec_t by the base policy)
    php_fpm_package: str  # what the -php-fpm package requires for that binary
    web_user: str
    web_group: str
    useradd_package: str  # provides useradd/groupadd for %pre
    module_format: int | None  # checkmodule -c: the newest module format the target's libsepol reads
    mock_config: str | None  # mock's name for the exact build root, where mock serves this target
    os_release: tuple[tuple[str, str], ...]  # (ID, VERSION_ID major) pairs that identify a host as this target
    # restorecon -T (threads) arrived in policycoreutils 3.4: EL 9.1+, EL 10, Fedora, Debian 12; EL 8 has 2.9.
    parallel_restorecon: bool = True


def _enterprise_linux(major: int, module_format: int | None, parallel_restorecon: bool = True) -> Target:
    """RHEL and its rebuilds: one layout on every major release, mock's AlmaLinux+EPEL root."""
    return _red_hat(
        name=f"el{major}",
        description=f"RHEL, AlmaLinux, Rocky Linux {major}",
        dist=f".el{major}",
        module_format=module_format,
        mock_config=f"alma+epel-{major}-x86_64",
        os_release=tuple((os_id, str(major)) for os_id in ("rhel", "almalinux", "rocky", "centos")),
        parallel_restorecon=parallel_restorecon,
    )


def _red_hat(**differences: Any) -> Target:
    """What Fedora and EL share: the targeted policy, php-fpm in /usr/sbin, nginx, shadow-utils."""
    common = {
        "store": "targeted",
        "php_fpm": Path("/usr/sbin/php-fpm"),
        "php_fpm_package": "php-fpm",
        "web_user": "nginx",
        "web_group": "nginx",
        "useradd_package": "shadow-utils",
    }
    return Target(**{**common, **differences})


PROFILES: dict[str, Target] = {
    t.name: t
    for t in (
        # libsepol 2.9 reads module formats up to 19.
        _enterprise_linux(8, module_format=19, parallel_restorecon=False),
        # EL 9.0 shipped libsepol 3.3 (formats up to 20); 19 is read by every EL 9 minor release.
        _enterprise_linux(9, module_format=19),
        _enterprise_linux(10, module_format=None),
        _red_hat(
            name="fedora",
            description="Fedora (current releases)",
            dist=".fc",
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
            web_user="www-data",
            web_group="www-data",
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
