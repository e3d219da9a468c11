"""Classify one AVC record of a sitepolicy type: violation, suggestion, unsupported or noise.

The rules come from the model: a suggestion is a change of a definition field (``writable``, ``network``)
whose grants the templates already hold; what no field expresses is `unsupported` and names the
target's own interfaces (interfaces.py); what crosses sites or reaches what no site may is a
`violation`, never with a way to allow it. Nothing here writes or proposes a policy rule.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..definition.site import MAIL_METHODS, Network
from ..verify.allowlist import DATABASE_SOCKETS, DNS_PORTS, NETWORK_PORTS, NETWORK_SOCKETS, RESOLVERS, WEB_CONTENT_TYPES
from .interfaces import InterfaceIndex
from .owners import MAIL_HELPER, Owner, Owners
from .records import Avc

WEB_SERVER = "httpd_t"
INIT = "init_t"


class Verdict(enum.Enum):
    VIOLATION = "violation"
    SUGGESTION = "suggestion"
    UNSUPPORTED = "unsupported"
    NOISE = "noise"


@dataclass(frozen=True)
class Need:
    """A definition change: add ``value`` to the list field ``field`` of ``site``."""

    site: str
    field: str  # "writable" or "network" (a list: the value is added), or "mail" (set to the value)
    value: str

    def __str__(self) -> str:
        return f"{self.field}: + {self.value}"


@dataclass(frozen=True)
class Classified:
    site: str  # the site the finding is reported under
    verdict: Verdict
    reason: str
    need: Need | None = None
    interfaces: tuple[str, ...] = ()
    companion: bool = False  # a network step (socket, DNS, resolv.conf) that goes with a network suggestion


# Changing a directory's entries, or the directory itself: what a `writable` entry grants (manage_dirs_pattern).
ENTRY_PERMS = frozenset({"add_name", "remove_name", "create", "rmdir"})  # a dir record that names the entry
DIR_WRITES = frozenset({"write", "add_name", "remove_name", "create", "rmdir", "reparent", "rename", "setattr"})
FILE_WRITES = frozenset({"write", "append", "create", "unlink", "rename", "setattr", "link"})
WRITES = DIR_WRITES | FILE_WRITES | frozenset({"relabelfrom", "relabelto", "mounton"})
# Types no site may read whatever its definition says.
FORBIDDEN = frozenset(
    """shadow_t security_t kmem_device_t memory_device_t user_home_t user_home_dir_t admin_home_t
    ssh_home_t sshd_key_t ssh_keygen_exec_t auditd_log_t var_auditd_t krb5_keytab_t cert_t
    semanage_store_t selinux_config_t default_context_t policy_config_t load_policy_exec_t
    sudo_exec_t su_exec_t passwd_exec_t mysqld_db_t postgresql_db_t proc_kcore_t""".split()
) | frozenset(WEB_CONTENT_TYPES)
# Known denials that change nothing for the site and that the templates should dontaudit.
NOISE: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("sysfs_t", "dir"): (frozenset({"read", "open", "search", "getattr"}), "php-fpm counts CPUs and NUMA nodes"),
    ("sysfs_t", "file"): (frozenset({"read", "open", "getattr"}), "php-fpm reads /sys/devices/system/cpu/possible"),
    ("sysfs_t", "lnk_file"): (frozenset({"read"}), "php-fpm follows sysfs links at start"),
    ("self", "capability"): (
        frozenset({"net_admin", "sys_nice"}),
        "sd_notify and nice(): the stock httpd_t dontaudits them",
    ),
    ("self", "process"): (frozenset({"execmem"}), "the PCRE or opcache JIT; PHP runs interpreted without it"),
    ("kernel_t", "system"): (frozenset({"module_request"}), "an extension asks the kernel to load a module"),
}
DATABASE_TYPES = frozenset(DATABASE_SOCKETS)
# mail(): PHP runs /bin/sh -c "sendmail -t -i"; without `mail` the shell is denied (execute on shell_exec_t), in a
# trial it runs in the site domain and runs sendmail itself.
MAIL_EXECUTABLES = frozenset({"shell_exec_t", "sendmail_exec_t"})
RUN_PERMS = frozenset({"execute", "read", "open", "getattr", "map", "execute_no_trans", "ioctl"})
PORT_NEEDS = {port: Network(need) for need, ports in NETWORK_PORTS.items() for port in ports}
COMPANION_CLASSES = frozenset({"tcp_socket", "udp_socket"})
DAC = frozenset({"dac_override", "dac_read_search"})


class Classifier:
    def __init__(self, owners: Owners, interfaces: InterfaceIndex | None, records: Sequence[Avc] = ()) -> None:
        self.owners = owners
        self.interfaces = interfaces
        # A trial logs a create in a read-only directory as several records of one event (one syscall): the
        # directory's own `dir { write }` names the directory; add_name and the new file name the entry; an
        # open for writing names the new file's full path (`file { write }` with path=).
        self.event_dirs: dict[tuple[float, int], str] = {}
        self.event_paths: dict[tuple[float, int], list[PurePosixPath]] = {}
        for avc in records:
            if avc.tclass == "dir" and "write" in avc.permissions and not avc.permissions & ENTRY_PERMS and avc.name:
                self.event_dirs.setdefault(avc.event, avc.name)
            if avc.path is not None:
                self.event_paths.setdefault(avc.event, []).append(avc.path)
        # The directories the site made itself during the trial, (parent's name, name): a `dir { create }` of an
        # event whose `dir { write }` named the parent. SELinux logs a denial once per policy load, so only the
        # first mkdir shows; the writable entry is the directory that existed, never one the application made.
        self.created: frozenset[tuple[str, str]] = frozenset(
            (self.event_dirs[a.event], a.name)
            for a in records
            if a.tclass == "dir" and "create" in a.permissions and a.name and a.event in self.event_dirs
        )

    def _granting(self, avc: Avc) -> tuple[str, ...]:
        if self.interfaces is None:
            return ()
        return tuple(self.interfaces.granting(avc.target_type, avc.tclass, avc.permissions))

    def __call__(self, avc: Avc) -> Classified | None:
        """The verdict for ``avc``; None when neither its source nor its target is a sitepolicy type."""
        source, target = self.owners(avc.source_type), self.owners(avc.target_type)
        if source is not None and source.is_domain:
            return self._from_site(avc, source, target)
        if source is not None and source.role == MAIL_HELPER:
            inherited = target is not None and target.site_name == source.site_name and target.is_domain
            if avc.tclass == "fd" and avc.permissions <= {"use"} and (inherited or avc.target_type == INIT):
                return Classified(
                    source.site_name,
                    Verdict.UNSUPPORTED,
                    f"{_access(avc)}: the mail() helper inherits the pool's descriptors ({avc.fields.get('path', 'fd')}"
                    "; PHP's pipe to sendmail, or a descriptor php-fpm leaks): a template defect, report it",
                )
            return Classified(
                source.site_name,
                Verdict.VIOLATION,
                f"{_access(avc)}: the mail() helper may run the target's sendmail and nothing else",
            )
        if target is None:
            return None
        return self._onto_site(avc, source, target)

    # ------------------------------------------------------------------ a site's php-fpm does it

    def _from_site(self, avc: Avc, me: Owner, target: Owner | None) -> Classified:
        site = me.site_name
        access = f"{avc.source_type} -> {avc.target_type}:{avc.tclass} {{ {' '.join(sorted(avc.permissions))} }}"
        if me.site is None:
            return Classified(site, Verdict.VIOLATION, f"{access}: a site domain with no definition in sites.d/")
        if target is not None and target.site_name != site:
            return Classified(
                site, Verdict.VIOLATION, f"crosses sites: {site} reached {target.site_name}'s {target.what}"
            )
        t, tclass, perms = avc.target_type, avc.tclass, avc.permissions
        if avc.kind == "USER_AVC":
            manager = avc.manager or "a userspace object manager"
            return Classified(
                site,
                Verdict.VIOLATION,
                f"{access}: asked of {manager} (D-Bus, systemd): no site may talk to the system's services",
            )
        self_target = t == avc.source_type
        if target is not None and not self_target:
            return self._own_type(avc, me, target)
        noise = NOISE.get(("self" if self_target else t, tclass))
        if noise is not None and perms <= noise[0]:
            return Classified(site, Verdict.NOISE, f"{access}: {noise[1]} (the templates should dontaudit it)")
        if tclass in NETWORK_SOCKETS or (tclass == "tcp_socket" and "name_connect" in perms):
            return self._network(avc, me, access)
        if t in DATABASE_TYPES:
            allowed = DATABASE_SOCKETS[t].get(tclass, frozenset())
            if perms <= allowed:
                need = Need(site, "network", Network.DATABASE.value)
                return Classified(site, Verdict.SUGGESTION, f"{access}: the local database server's socket", need)
            return Classified(
                site, Verdict.VIOLATION, f"{access}: more than the database socket (search, write, connect)"
            )
        if t in MAIL_EXECUTABLES and tclass == "file" and perms <= RUN_PERMS:
            if me.site.mail is None:
                need = Need(site, "mail", MAIL_METHODS[0])
                return Classified(site, Verdict.SUGGESTION, f"{access}: PHP's mail() runs /bin/sh -c sendmail", need)
            return Classified(site, Verdict.VIOLATION, f"{access}: with mail, a shell enters the mail() helper")
        if t in RESOLVERS:
            return Classified(site, Verdict.VIOLATION, f"{access}: a resolver daemon (a name query carries data out)")
        if t == "net_conf_t" and perms <= frozenset({"read", "open", "getattr", "ioctl", "lock", "search"}):
            return Classified(
                site, Verdict.VIOLATION, f"{access}: resolver configuration without a network entry", companion=True
            )
        if t in FORBIDDEN:
            return Classified(site, Verdict.VIOLATION, f"{access}: no site may reach {t}")
        if not self_target and tclass in (
            "process",
            "process2",
            "unix_stream_socket",
            "unix_dgram_socket",
            "fd",
            "key",
        ):
            return Classified(site, Verdict.VIOLATION, f"{access}: another domain ({t})")
        if self_target and tclass in ("capability", "capability2", "cap_userns"):
            if perms <= DAC:
                return Classified(
                    site,
                    Verdict.UNSUPPORTED,
                    f"{access}: the root master passes Unix permissions on a file the pool user owns (fix the file's "
                    "owner or mode; no field grants it)",
                )
            return Classified(site, Verdict.VIOLATION, f"{access}: a capability no site has")
        if perms & WRITES:
            return Classified(site, Verdict.VIOLATION, f"{access}: writing a type that is not the site's own")
        return Classified(
            site, Verdict.UNSUPPORTED, f"{access}: no definition field grants it", interfaces=self._granting(avc)
        )

    def _network(self, avc: Avc, me: Owner, access: str) -> Classified:
        site = me.site_name
        t = avc.target_type
        if "name_connect" in avc.permissions and t in PORT_NEEDS:
            need = Need(site, "network", PORT_NEEDS[t].value)
            port = f" (port {avc.port})" if avc.port is not None else ""
            return Classified(site, Verdict.SUGGESTION, f"{access}{port}: covered by network entry {need.value}", need)
        if "name_connect" in avc.permissions and t in DNS_PORTS:
            return Classified(site, Verdict.VIOLATION, f"{access}: DNS without a network entry", companion=True)
        if t == avc.source_type and avc.tclass in COMPANION_CLASSES:
            return Classified(
                site, Verdict.VIOLATION, f"{access}: a network socket without a network entry", companion=True
            )
        return Classified(site, Verdict.VIOLATION, f"{access}: network access no network entry grants")

    def _own_type(self, avc: Avc, me: Owner, target: Owner) -> Classified:
        site, perms, tclass = me.site_name, avc.permissions, avc.tclass
        access = f"{avc.source_type} -> {avc.target_type}:{tclass} {{ {' '.join(sorted(perms))} }}"
        if tclass == "lnk_file" and "create" in perms:
            return Classified(
                site, Verdict.VIOLATION, f"{access}: creating a symbolic link the web server would follow"
            )
        if perms & {"execute", "execute_no_trans", "entrypoint"} and target.role in ("rw", "tmp", "sessions", "log"):
            return Classified(site, Verdict.VIOLATION, f"{access}: running a file the site itself can write")
        if target.role == "content" and tclass in ("dir", "file") and perms & WRITES:
            assert me.site is not None
            directory = writable_dir(
                me.site.docroot,
                avc,
                self.event_dirs.get(avc.event),
                self.event_paths.get(avc.event, ()),
                self.created,
            )
            if directory is None:
                return Classified(
                    site,
                    Verdict.UNSUPPORTED,
                    f"{access}: a write in the read-only docroot, but the directory is not known (a writable entry "
                    "is a directory below the docroot; the docroot itself never is)",
                )
            need = Need(site, "writable", str(directory))
            return Classified(
                site, Verdict.SUGGESTION, f"{access}: the site writes {me.site.docroot / directory}", need
            )
        if target.role in ("conf", "exec", "content") and perms & WRITES:
            return Classified(site, Verdict.VIOLATION, f"{access}: the site may never write its {target.what}")
        return Classified(site, Verdict.UNSUPPORTED, f"{access}: not granted on the site's own {target.what}")

    # ------------------------------------------------------------------ something else reaches a site's type

    def _onto_site(self, avc: Avc, source: Owner | None, target: Owner) -> Classified:
        access = f"{avc.source_type} -> {avc.target_type}:{avc.tclass} {{ {' '.join(sorted(avc.permissions))} }}"
        if avc.source_type == WEB_SERVER:
            return Classified(
                target.site_name,
                Verdict.VIOLATION,
                f"{access}: the web server may only read the docroot and writable "
                f"directories and reach the socket, not the {target.what}",
            )
        if avc.source_type == INIT and target.is_domain and avc.tclass in ("process", "process2"):
            return Classified(
                target.site_name,
                Verdict.UNSUPPORTED,
                f"{access}: systemd cannot start the site on this policy (a template defect: report it)",
            )
        return Classified(
            target.site_name, Verdict.VIOLATION, f"{access}: another domain reaches the site's {target.what}"
        )


def _access(avc: Avc) -> str:
    return f"{avc.source_type} -> {avc.target_type}:{avc.tclass} {{ {' '.join(sorted(avc.permissions))} }}"


def writable_dir(
    docroot: PurePosixPath,
    avc: Avc,
    event_dir: str | None = None,
    event_paths: Sequence[PurePosixPath] = (),
    created: Collection[tuple[str, str]] = (),
) -> PurePosixPath | None:
    """The directory below ``docroot`` a denied write needs writable: from the event's full path, else from
    the record's name and inode found in the docroot on this host, else the name itself for a directory's
    own write (``dir { write }`` names the directory; ``add_name``/``remove_name`` and file writes name the entry).
    An entry named only by ``name=`` takes the full path another record of its event gives for that name. A
    directory the site made itself during the trial (``created``) is cut off: its parent is the entry."""
    entry_named = avc.tclass == "file" or bool(avc.permissions & ENTRY_PERMS)
    path = avc.path
    if path is None and entry_named and avc.name:
        path = next((p for p in event_paths if p.name == avc.name), None)
    if path is not None and path.is_relative_to(docroot):
        directory = path.parent if entry_named else path
        return _existing(docroot, _below(docroot, directory), created)
    name, ino = avc.name, avc.ino
    if name is None or "/" in name or name in (".", ".."):
        return None
    if ino is not None:
        found = _find_inode(Path(str(docroot)), ino)
        if found is not None:
            return _existing(docroot, _below(docroot, found.parent if entry_named else found), created)
    if entry_named and event_dir is not None:  # the directory's own record of the same event named it
        name, entry_named = event_dir, False
    if entry_named or name == docroot.name:  # the docroot's own name: a write in the docroot itself
        return None
    return _existing(docroot, _below(docroot, docroot / name), created)


def _existing(
    docroot: PurePosixPath, directory: PurePosixPath | None, created: Collection[tuple[str, str]]
) -> PurePosixPath | None:
    """``directory`` up to the first component the site created itself (never the top one: the docroot is never
    writable, so a directory made directly in it stays the entry)."""
    if directory is None:
        return None
    parts = directory.parts
    for i in range(1, len(parts)):
        if (parts[i - 1], parts[i]) in created:
            return PurePosixPath(*parts[:i])
    return directory


def _below(docroot: PurePosixPath, directory: PurePosixPath) -> PurePosixPath | None:
    if directory == docroot or not directory.is_relative_to(docroot):
        return None
    return directory.relative_to(docroot)


def _find_inode(top: Path, ino: int, limit: int = 20000) -> PurePosixPath | None:
    """The path of inode ``ino`` below ``top`` on this host (the docroot of a site running here), if found."""
    if not top.is_dir():
        return None
    seen = 0
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [*dirnames, *filenames]:
            seen += 1
            path = Path(dirpath) / name
            try:
                if path.lstat().st_ino == ino:
                    return PurePosixPath(str(path))
            except OSError:
                continue
            if seen > limit:
                return None
    return None
