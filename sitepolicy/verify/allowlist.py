"""What the proofs accept although it touches a type shared with, or owned by, something else.

Each entry names the exact type (or attribute rule shape) and classes, and why it cannot carry one
site's data to another. Nothing here is file content: a new entry needs a reason of the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SharedType:
    """A type two site domains may both reach (proof 3): the write of one, the read of the other.

    Only with at most ``perms``: a site that may also create the object, or open it where the
    reason says it cannot, is a channel again.
    """

    type: str
    classes: frozenset[str]
    reason: str
    perms: frozenset[str]


_SOCKET = "getattr open write append"


def _shared(type_name: str, classes: str, reason: str, perms: str = _SOCKET) -> SharedType:
    return SharedType(type_name, frozenset(classes.split()), reason, frozenset(perms.split()))


_NSSWITCH = (
    "a name-service daemon socket (the pool user and group are looked up by name; EL asks sssd first); "
    "connecting asks the daemon a question, the daemon relays nothing from one client to another"
)
_DESCRIPTOR = (
    "no open permission: only a descriptor systemd handed the process at start (each service gets its own); "
    "a site gets no descriptor from another site: no socket or pipe joins two site domains"
)

# Proof 3: (type, classes) that two sites may share, each with its reason.
SHARED_TYPES: tuple[SharedType, ...] = (
    _shared(
        "devlog_t", "sock_file", "the system logger socket /dev/log (logging_send_syslog_msg): write-only for clients"
    ),
    _shared(
        "syslogd_var_run_t",
        "sock_file",
        "the journal sockets in /run/systemd/journal (logging_send_syslog_msg on Fedora/RHEL): write-only for "
        "clients, journald reads them",
    ),
    _shared(
        "init_runtime_t",
        "sock_file",
        "the systemd notify socket (sd_notify READY=1, granted to every daemon); systemd reads it, no client can",
    ),
    _shared(
        "init_var_run_t",
        "sock_file",
        "the systemd notify socket on Fedora/RHEL (/run/systemd/notify, sd_notify READY=1); systemd reads it, "
        "no client can",
    ),
    _shared("setrans_runtime_t", "sock_file", "the mcstrans socket every domain may query (translates MCS labels)"),
    _shared("setrans_var_run_t", "sock_file", "the mcstrans socket every domain may query (translates MCS labels)"),
    _shared("nscd_runtime_t", "sock_file", _NSSWITCH),
    _shared("nslcd_runtime_t", "sock_file", _NSSWITCH),
    _shared("sssd_var_lib_t", "sock_file", _NSSWITCH),
    _shared("sssd_var_run_t", "sock_file", _NSSWITCH),
    _shared("winbind_runtime_t", "sock_file", _NSSWITCH),
    _shared("systemd_userdbd_runtime_t", "sock_file", _NSSWITCH),
    _shared("systemd_resolved_runtime_t", "sock_file", _NSSWITCH),
    _shared("avahi_runtime_t", "sock_file", _NSSWITCH),
    _shared("pcscd_runtime_t", "sock_file", _NSSWITCH),
    _shared("slapd_runtime_t", "sock_file", _NSSWITCH),
    _shared(
        "systemd_resolved_var_run_t",
        "sock_file",
        "systemd-resolved's varlink socket: Fedora/RHEL let every domain connect to it (base policy, not this "
        "module); resolved answers each client alone and relays nothing between clients (the network proof "
        "lists it as the name resolution the base policy gives every domain)",
    ),
    _shared(
        "systemd_nsresourced_runtime_t",
        "sock_file",
        "systemd-nsresourced's varlink socket (Fedora base policy: every domain may connect); it allocates "
        "user-namespace ranges for the asking client and relays nothing between clients",
    ),
    _shared(
        "hugetlbfs_t",
        "file",
        "huge-page memory of opcache (fs_mmap_rw_hugetlbfs_files): anonymous MAP_HUGETLB mappings live on the "
        "kernel internal hugetlbfs. Residual risk: the interface also grants open and dir search, so both "
        "sites could open a file that ANOTHER domain created on a mounted hugetlbfs (/dev/hugepages); "
        "neither site can create one there (no create, no add_name: not in the allowed permissions)",
        "getattr ioctl lock open read write append map",
    ),
    _shared(
        "rpm_script_tmp_t",
        "file",
        "Fedora/RHEL base policy (every domain, not this module): rpm scriptlet temporary files in /tmp may be "
        "opened, read and appended to. No site can create one (no create): such a file exists only while rpm "
        "runs a scriptlet, owned by root with mode 0600, so a PHP worker (the pool user) cannot open it",
        "append getattr ioctl lock open read map",
    ),
    _shared(
        "sosreport_tmp_t",
        "file",
        "Fedora/RHEL base policy (every domain, not this module): sosreport's temporary test file may be "
        "opened for append and read through a descriptor. No site can create one (no create): it exists only "
        "while sosreport runs, owned by root",
        "append getattr ioctl lock open read map",
    ),
    _shared(
        "tmpfs_t",
        "dir",
        "Fedora/RHEL let every domain add and list names in tmpfs_t directories (/dev/shm; base policy, not "
        "this module), but a site can create nothing there: a file would be tmpfs_t (no create) or, by a "
        "fixed name only, opencryptoki's ica_tmpfs_t (create, never write). At most the existence of that "
        "one fixed name is visible: no data",
        "add_name getattr ioctl lock open read remove_name search write",
    ),
)

# Proof 3: base-policy rules on every domain that reach existing objects of other services by path.
# Accepted only while no site may create such an object (a site with create on the type is a channel).
SHARED_RULES: tuple[RuleAllowance, ...] = ()  # filled below, after RuleAllowance


# Classes whose data moves only through an open descriptor: read, write, append and map on such an
# object need the descriptor, and a descriptor needs the open permission (open_perms, every target)
# unless systemd handed it over at start. A domain's rules on a (type, class) without open and create
# carry nothing between sites (_DESCRIPTOR). Sockets are not here: connect() works on a path.
DESCRIPTOR_CLASSES = frozenset({"file", "fifo_file", "chr_file", "blk_file", "dir"})
DESCRIPTOR_PERMS = frozenset({"read", "write", "append", "map", "ioctl", "lock", "getattr", "use"})
DESCRIPTOR_REASON = _DESCRIPTOR


def descriptor_only(tclass: str, perms: frozenset[str]) -> bool:
    """Permissions that act on an object only through a descriptor already held."""
    return tclass in DESCRIPTOR_CLASSES and perms <= DESCRIPTOR_PERMS


@dataclass(frozen=True)
class RuleAllowance:
    """A base-policy rule a site type receives through an attribute, accepted with its reason.

    Matched on the rule as written (source and target, type or attribute), the class and the
    permissions: the same rule with one permission more is not accepted.
    """

    source: str
    target: str
    classes: frozenset[str]
    perms: frozenset[str]
    reason: str

    def matches(self, rule_source: str, rule_target: str, tclass: str, perms: frozenset[str]) -> bool:
        return (
            rule_source == self.source and rule_target == self.target and tclass in self.classes and perms <= self.perms
        )


def _rule(source: str, target: str, classes: str, perms: str, reason: str) -> RuleAllowance:
    return RuleAllowance(source, target, frozenset(classes.split()), frozenset(perms.split()), reason)


RULE_ALLOWANCES: tuple[RuleAllowance, ...] = (
    _rule(
        "domain",
        "domain",
        "anon_inode",
        "create getattr ioctl map read write",
        "anonymous inodes (userfaultfd, io_uring) carry the type of the domain that made them and have no "
        "path: reachable only through the creator's own descriptor (Fedora/RHEL base rule for every domain)",
    ),
    _rule(
        "domain",
        "domain",
        "fd",
        "use",
        "using a descriptor another domain opened (domain_fd_use): a site receives none from another site, "
        "no socket joins two site domains (any connectto or sendto between them fails proof 2)",
    ),
    _rule(
        "domain",
        "domain",
        "key",
        "link search",
        "kernel keyrings (Fedora/RHEL base rule for every domain): find and link a key, never view, read or "
        "write its payload",
    ),
    _rule(
        "domain",
        "file_type",
        "lnk_file",
        "map",
        "domain_can_mmap_files: a symbolic link cannot be opened, so never mapped (Fedora/RHEL base rule)",
    ),
    _rule(
        "httpd_t",
        "file_type",
        "dir",
        "getattr open search",
        "Fedora/RHEL let the web server search every directory: a path through, never a listing or a read",
    ),
    _rule(
        "httpd_t",
        "domain",
        "process",
        "getpgid",
        "httpd_run_stickshift: the web server may read any process group id, nothing of its memory or files",
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


# The network proof (7): outbound TCP port types each `network` entry grants, and DNS for any entry.
NETWORK_PORTS: dict[str, tuple[str, ...]] = {
    "database": ("mysqld_port_t", "postgresql_port_t"),
    "smtp": ("smtp_port_t",),
    "http": ("http_port_t",),
    "redis": ("redis_port_t",),
    "memcache": ("memcache_port_t",),
}
DNS_PORTS = ("dns_port_t", "dnssec_port_t")

_SEARCH_DIR = frozenset({"getattr", "open", "search"})
_WRITE_SOCK = frozenset({"getattr", "open", "write", "append"})
# The network proof (7), `database`: the local database servers over their unix sockets, as the targets'
# mysql_stream_connect and postgresql_stream_connect grant them. Each type, class by class, with the most
# a site may hold on it; a site without `database` may neither connect to these domains nor write these
# sockets. Types a target does not have are skipped (Debian: *_runtime_t, Fedora/RHEL: *_var_run_t).
DATABASE_SOCKETS: dict[str, dict[str, frozenset[str]]] = {
    "mysqld_t": {"unix_stream_socket": frozenset({"connectto"})},
    "postgresql_t": {"unix_stream_socket": frozenset({"connectto"})},
    # /run/mysqld (Debian, Fedora) and the socket in it.
    "mysqld_var_run_t": {"dir": _SEARCH_DIR, "sock_file": _WRITE_SOCK},
    "mysqld_runtime_t": {"dir": _SEARCH_DIR, "sock_file": _WRITE_SOCK},
    # /var/lib/mysql, where EL's MariaDB puts mysql.sock (labelled mysqld_var_run_t): searched, never read.
    "mysqld_db_t": {"dir": _SEARCH_DIR},
    # /run/postgresql, and a socket in /tmp (postgresql_tmp_t) where the server is configured so.
    "postgresql_var_run_t": {"dir": _SEARCH_DIR, "sock_file": _WRITE_SOCK},
    "postgresql_runtime_t": {"dir": _SEARCH_DIR, "sock_file": _WRITE_SOCK},
    "postgresql_tmp_t": {"dir": _SEARCH_DIR, "sock_file": _WRITE_SOCK},
}
# Proof 3: the socket files of DATABASE_SOCKETS, which every site with `database` writes.
SHARED_TYPES += tuple(
    _shared(
        socket_type,
        "sock_file",
        "a local database server's socket (`network: [database]`, proof 7): writing the socket file connects "
        "to the server, the file itself holds no data; which databases a site reaches is the server's own "
        "authentication, exactly as over TCP to its port",
    )
    for socket_type, classes in DATABASE_SOCKETS.items()
    if "sock_file" in classes
)
# What `database` must at least give: connect to each server, through a socket file of one of the types.
DATABASE_SERVERS: dict[str, tuple[str, ...]] = {
    "mysqld_t": ("mysqld_var_run_t", "mysqld_runtime_t"),
    "postgresql_t": ("postgresql_var_run_t", "postgresql_runtime_t"),
}
# Socket classes that reach the network; a site without `network` may create none of them.
NETWORK_SOCKETS = (
    "tcp_socket udp_socket rawip_socket icmp_socket sctp_socket dccp_socket packet_socket "
    "netlink_route_socket key_socket appletalk_socket ax25_socket ipx_socket x25_socket vsock_socket "
    "tun_socket smc_socket mptcp_socket xdp_socket"
).split()
# Daemons that resolve a name on a client's behalf (a DNS query carries data out as a name).
RESOLVERS = ("systemd_resolved_t", "nscd_t", "avahi_t", "dnsmasq_t", "named_t", "unbound_t")

NETWORK_ALLOWANCES: tuple[RuleAllowance, ...] = (
    _rule(
        "domain",
        "systemd_resolved_t",
        "unix_stream_socket dbus",
        "connectto send_msg",
        "Fedora/RHEL base policy: every domain may ask systemd-resolved (its varlink socket and D-Bus) to "
        "resolve a name. A module cannot take a rule on the domain attribute away; where resolved runs "
        "(Fedora by default, not RHEL), a site without network can still look a name up through it",
    ),
)

# Proof 9: domains every domain may enter by the base policy, each with why it is no way out of a site.
TRANSITION_ALLOWANCES: tuple[RuleAllowance, ...] = (
    _rule(
        "domain",
        "abrt_helper_t",
        "process",
        "transition",
        "Fedora/RHEL let every domain run abrt's crash helper (abrt_helper_exec_t); a base-policy rule on the "
        "domain attribute that no module can take away. On the linked el9 policy abrt_helper_t reads and "
        "writes no site type by path: statfs, descriptor-only rules (log append, map) and, as an nsswitch "
        "domain, search of the run directories (pidfile), where it may write no socket",
    ),
)

SHARED_RULES = (
    _rule(
        "domain",
        "tmpfile",
        "file",
        "append getattr ioctl lock open read",
        "RHEL 8 base policy (f30, every domain; later releases dropped open): open, read and append existing "
        "temporary files of system services. No site can create a file of such a type (the proof drops this "
        "rule for a type a site may create), so only files other daemons made, behind their Unix "
        "permissions, are reachable: a channel every confined domain of an EL 8 host shares",
    ),
)

# Proof 10 (mail: sendmail). The domain the target's sendmail runs in (mta_send_mail): the helper of a site with
# mail may enter it, and no other domain of any site. What the mail domain, and every domain it may enter in
# turn, may hold on a site's types: the descriptors of the sites that run sendmail (the pipe PHP writes the
# message into, the parent it reports its exit to). No open, no create: nothing reachable by a path.
MAIL_DOMAIN = "system_mail_t"
MAIL_MAY_HOLD: dict[str, frozenset[str]] = {
    "fd": frozenset({"use"}),
    "fifo_file": frozenset({"getattr", "read", "write", "append", "ioctl", "lock"}),
    "process": frozenset({"sigchld"}),
}

# Proof 10: programs every domain may run in its own domain by the base policy (Fedora/RHEL rules on the domain
# attribute, which no module can take away); run in the helper, they hold the helper's rules and nothing more.
MAIL_HELPER_PROGRAMS: tuple[RuleAllowance, ...] = (
    _rule(
        "domain",
        "abrt_helper_exec_t",
        "file",
        "execute execute_no_trans getattr ioctl map open read",
        "Fedora/RHEL: every domain may run abrt's crash helper; in the helper domain it has the helper's rules",
    ),
    _rule(
        "domain",
        "prelink_exec_t",
        "file",
        "execute execute_no_trans getattr ioctl lock map open read",
        "Fedora/RHEL under fips_mode: every domain may run prelink (FIPS self-checks); in the helper domain it "
        "has the helper's rules",
    ),
)
# Proof 10: what the mail domain may hold on a site type through a rule on an attribute: a path through a
# directory (EL/Fedora: system_mail_t is an nsswitch domain, which may search every run directory), never a
# listing, a read or a write.
MAIL_PATH_THROUGH = frozenset({"getattr", "open", "search"})
