"""What the proofs accept although it touches a type shared with, or owned by, something else.

Each entry names the exact type (or attribute rule shape) and classes, and why it cannot carry one
site's data to another. Nothing here is file content: a new entry needs a reason of the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SharedType:
    """A type two site domains may both reach (proof 3): the write of one, the read of the other."""

    type: str
    classes: frozenset[str]
    reason: str


def _shared(type_name: str, classes: str, reason: str) -> SharedType:
    return SharedType(type_name, frozenset(classes.split()), reason)


_NSSWITCH = (
    "a name-service daemon socket (auth_use_nsswitch: the pool user and group are looked up by name); "
    "connecting asks the daemon a question, the daemon relays nothing from one client to another"
)

# Proof 3: (type, classes) that two sites may share, each with its reason.
SHARED_TYPES: tuple[SharedType, ...] = (
    _shared(
        "devlog_t", "sock_file", "the system logger socket /dev/log (logging_send_syslog_msg): write-only for clients"
    ),
    _shared(
        "init_runtime_t",
        "sock_file",
        "the systemd notify socket (sd_notify READY=1, granted to every daemon); systemd reads it, no client can",
    ),
    _shared("setrans_runtime_t", "sock_file", "the mcstrans socket every domain may query (translates MCS labels)"),
    _shared("nscd_runtime_t", "sock_file", _NSSWITCH),
    _shared("nslcd_runtime_t", "sock_file", _NSSWITCH),
    _shared("sssd_var_lib_t", "sock_file", _NSSWITCH),
    _shared("winbind_runtime_t", "sock_file", _NSSWITCH),
    _shared("systemd_userdbd_runtime_t", "sock_file", _NSSWITCH),
    _shared("systemd_resolved_runtime_t", "sock_file", _NSSWITCH),
    _shared("avahi_runtime_t", "sock_file", _NSSWITCH),
    _shared("pcscd_runtime_t", "sock_file", _NSSWITCH),
    _shared("slapd_runtime_t", "sock_file", _NSSWITCH),
    _shared(
        "init_t",
        "fifo_file",
        "anonymous pipes systemd (init_t) creates for a service stdin/stdout/stderr: each service gets "
        "its own; no open permission, so reachable only as an inherited descriptor, never by a path",
    ),
    _shared(
        "initrc_t",
        "fifo_file",
        "pipes of an init script that started the service (init_daemon_domain): no open permission, "
        "so reachable only as an inherited descriptor",
    ),
    _shared(
        "init_tmpfs_t",
        "file",
        "the memfd systemd passes for StandardInputText= (init_domain: rw_inherited_file_perms, no open): "
        "reachable only as an inherited descriptor",
    ),
    _shared(
        "hugetlbfs_t",
        "file",
        "huge-page memory of opcache (fs_mmap_rw_hugetlbfs_files): anonymous MAP_HUGETLB mappings live on the "
        "kernel internal hugetlbfs. Residual risk: the interface also grants open and dir search, so both "
        "sites could open a file that ANOTHER domain created on a mounted hugetlbfs (/dev/hugepages); "
        "neither site can create one there (no add_name)",
    ),
)


@dataclass(frozen=True)
class HarmlessAccess:
    """A class and permissions that reveal nothing of an object content and change nothing (proofs 2, 4)."""

    tclass: str
    perms: frozenset[str]
    reason: str


HARMLESS: tuple[HarmlessAccess, ...] = (
    HarmlessAccess(
        "filesystem",
        frozenset({"getattr"}),
        "statfs of the filesystem a file lives on (base policy grants it on the file_type attribute): "
        "free space and mount flags, nothing of any file",
    ),
)


@dataclass(frozen=True)
class WebContentAccess:
    """Access of a site domain to the stock web content types that the templates document (proof 2)."""

    type: str
    tclass: str
    perms: frozenset[str]
    reason: str


WEB_CONTENT: tuple[WebContentAccess, ...] = (
    WebContentAccess(
        "httpd_sys_content_t",
        "dir",
        frozenset({"getattr", "open", "search"}),
        "/srv/www and /var/www are httpd_sys_content_t: a docroot below them is reached by searching them "
        "(apache_search_sys_content; the base policy grants the same search to every daemon), never listed or read",
    ),
)

# The stock shared web content: the base policy attribute of all of it, and the names it has everywhere.
WEB_CONTENT_ATTRIBUTE = "httpdcontent"
WEB_CONTENT_TYPES = ("httpd_sys_content_t", "httpd_sys_rw_content_t", "httpd_sys_ra_content_t", "httpd_user_content_t")
