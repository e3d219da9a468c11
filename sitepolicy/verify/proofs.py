"""The six proofs, each a function of the linked policy returning findings with the rules as text.

Subjects are site domains (and httpd_t, init_t); objects are a site's types. A site's types and
domains are what its linked module declares (a Scope), not a fixed list: a type or domain the
template adds is proven like the ones names.TYPE_ROLES knows. A finding that fails carries the exact
rules that make it fail (and the attribute that brings a site type under a rule written on it), or,
for a missing permission, the permission that no rule grants.
"""

from __future__ import annotations

import bisect
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..definition.site import Site
from ..render import fc_regex
from ..targets import PHP_FPM_ENTRY_TYPE
from .access import Access, Grant, PolicyIndex
from .allowlist import (
    DATABASE_SERVERS,
    DATABASE_SOCKETS,
    DNS_PORTS,
    HARMLESS,
    MAIL_DOMAIN,
    MAIL_HELPER_PROGRAMS,
    MAIL_MAY_HOLD,
    MAIL_PATH_THROUGH,
    NETWORK_ALLOWANCES,
    NETWORK_PORTS,
    NETWORK_SOCKETS,
    RESOLVERS,
    RULE_ALLOWANCES,
    SHARED_RULES,
    SHARED_TYPES,
    TRANSITION_ALLOWANCES,
    WEB_CONTENT,
    WEB_CONTENT_ATTRIBUTE,
    WEB_CONTENT_TYPES,
    SharedType,
    descriptor_only,
)

WEB_SERVER = "httpd_t"
INIT = "init_t"
# What verify says of a site whose definition asks for a trial run (mode: permissive): proven, NOT isolated.
TRIAL = "trial/permissive, not isolated: the definition asks for mode: permissive, the domain denies nothing"


class Proof(enum.IntEnum):
    ENTRY = 1
    ISOLATION = 2
    CHANNELS = 3
    WEB_SERVER = 4
    NEEDS = 5
    FILE_CONTEXTS = 6
    NETWORK = 7
    DEPUTY = 8
    DOMAINS = 9
    MAIL = 10

    @property
    def title(self) -> str:
        return {
            1: "entry from systemd",
            2: "no rule on another site's types",
            3: "no channel through a shared type",
            4: "web server: read and connect only",
            5: "what php-fpm needs",
            6: "file contexts",
            7: "network: only what the definition asks for",
            8: "web server deputy: no link it follows is the site's",
            9: "the domains of the module and where they may go",
            10: "mail: a shell only with mail, and then only sendmail",
        }[self.value]


@dataclass(frozen=True)
class Finding:
    proof: Proof
    subject: str  # a site name, or httpd_t
    obj: str  # a site name, or "web content" for the stock web content types
    ok: bool
    what: str
    rules: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "proof": int(self.proof),
            "title": self.proof.title,
            "subject": self.subject,
            "object": self.obj,
            "ok": self.ok,
            "what": self.what,
            "rules": list(self.rules),
        }


@dataclass(frozen=True)
class Scope:
    """What one site's linked module declares: its domains and all its types (domains included)."""

    site: Site
    domains: tuple[str, ...]
    types: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.site.name

    def role(self, type_name: str) -> str | None:
        """The names.TYPE_ROLES role of a type, or None for a type the fixed names do not know."""
        for role, known in self.site.names.types.items():
            if known == type_name:
                return role
        return None


def scope_of(site: Site | Scope, declared: Sequence[str] = (), domains: Sequence[str] = ()) -> Scope:
    """A site's scope: its fixed names, plus every type and domain its module declares."""
    if isinstance(site, Scope):
        return site
    names = site.names
    types = dict.fromkeys([*names.types.values(), *declared])
    own_domains = dict.fromkeys([names.domain, *(d for d in domains if d in types)])
    return Scope(site, tuple(own_domains), tuple(types))


def site_access(index: PolicyIndex, scope: Scope) -> Access:
    """The rules of all the site's domains together, as one subject."""
    if len(scope.domains) == 1:
        return index.access(scope.domains[0])
    merged: dict[str, list[Grant]] = {}
    for domain in scope.domains:
        for target, grants in index.access(domain).by_target.items():
            merged.setdefault(target, []).extend(grants)
    return Access(" ".join(scope.domains), merged)


def _rules(grants: Sequence[Grant]) -> tuple[str, ...]:
    out = set()
    for g in grants:
        if g.ruletype.startswith("allow") and g.rule_target not in ("", g.target, "self"):
            out.add(f"{g.rule}  <- {g.target} is in the attribute {g.rule_target}")
        else:
            out.add(g.rule)
    return tuple(sorted(out))


def _allowed_rule(grant: Grant) -> bool:
    return any(a.matches(grant.rule_source, grant.rule_target, grant.tclass, grant.perms) for a in RULE_ALLOWANCES)


def _harmless(grant: Grant) -> bool:
    """A rule on another site's types that carries nothing (allowlist.py gives each reason).

    Descriptor-only permissions are accepted from rules written on an attribute (the base policy's broad
    rules); a rule that names the other site's type itself is never an accident of the base policy.
    """
    on_attribute = grant.rule_target not in ("", grant.target, "self")
    if grant.ruletype in ("allow", "allowxperm") and on_attribute and descriptor_only(grant.tclass, grant.perms):
        return True
    return _allowed_rule(grant) or any(grant.tclass == h.tclass and grant.perms <= h.perms for h in HARMLESS)


def _need(finding_proof: Proof, site: Site, access: Access, target: str, tclass: str, perms: str, what: str) -> Finding:
    wanted = frozenset(perms.split())
    missing = wanted - access.perms(target, tclass)
    if missing:
        detail = f"no unconditional rule allows {access.source} {target}:{tclass} {{ {' '.join(sorted(missing))} }}"
        return Finding(finding_proof, site.name, site.name, False, f"{what}: {detail}", (detail,))
    return Finding(finding_proof, site.name, site.name, True, what)


# --------------------------------------------------------------------------- 1. entry


def prove_entry(index: PolicyIndex, site: Site, exec_type: str = PHP_FPM_ENTRY_TYPE) -> list[Finding]:
    """init_t starts the stock php-fpm (httpd_exec_t) straight into the site domain (SELinuxContext=)."""
    domain = site.names.domain
    init, own = index.access(INIT), index.access(domain)
    findings = [
        _need(Proof.ENTRY, site, init, domain, "process", "transition", "init_t may transition into the site domain"),
        _need(Proof.ENTRY, site, init, domain, "process2", "nnp_transition", "also under NoNewPrivileges=yes"),
        _need(Proof.ENTRY, site, init, exec_type, "file", "execute read open", f"init_t may execute {exec_type}"),
        _need(Proof.ENTRY, site, own, exec_type, "file", "entrypoint", f"{exec_type} is an entrypoint of the domain"),
        _need(Proof.ENTRY, site, own, exec_type, "file", "execute_no_trans", "php-fpm may re-exec itself on reload"),
    ]
    permissive = index.permissive(domain)
    asked = permissive and site.permissive
    findings.append(
        Finding(
            Proof.ENTRY,
            site.name,
            site.name,
            not permissive or asked,
            TRIAL if asked else "the site domain is enforcing (not permissive)",
            (f"permissive {domain}; (mode: permissive in {site.source.name})",)
            if asked
            else (
                f"permissive {domain}; SELinux only logs what this domain does and denies none of it: the site "
                "is not isolated at all (a trial run must be declared in the definition, not in the policy)",
            )
            if permissive
            else (),
        )
    )
    in_role = domain in index.role_types("system_r")
    role_missing = () if in_role else (f"role system_r types {domain}; is missing",)
    findings.append(Finding(Proof.ENTRY, site.name, site.name, in_role, "role system_r may run it", role_missing))
    # A type_transition on the stock binary would move the distribution php-fpm (and every other
    # site) into this domain: the design allows the transition but must never make it automatic.
    automatic = [
        g
        for g in init.on([exec_type])
        if g.ruletype == "type_transition" and g.tclass == "process" and g.rule.split()[-1].rstrip(";") == domain
    ]
    findings.append(
        Finding(
            Proof.ENTRY,
            site.name,
            site.name,
            not automatic,
            f"no automatic transition on {exec_type}",
            _rules(automatic),
        )
    )
    return findings


# --------------------------------------------------------------------------- 2. isolation


def _isolation_what(scope: Scope, other: Scope) -> str:
    return f"{' '.join(scope.domains)} has no rule on the types of {other.name}"


def prove_isolation(index: PolicyIndex, site: Site | Scope, other: Site | Scope) -> Finding:
    """The site's domains have no rule of any permission on any of the other site's types."""
    scope, other_scope = scope_of(site), scope_of(other)
    access = site_access(index, scope)
    grants = [g for g in access.on(other_scope.types) if not _harmless(g)]
    what = _isolation_what(scope, other_scope)
    return Finding(Proof.ISOLATION, scope.name, other_scope.name, not grants, what, _rules(grants))


def prove_web_content(index: PolicyIndex, site: Site | Scope) -> Finding:
    """Only the documented access to the stock shared web content types (httpd_sys_content_t, ...).

    A site type that is itself in the web content attribute fails here, naming the attribute: every
    domain granted the stock web content (the web server's CGI domains, other daemons) reaches it.
    """
    scope = scope_of(site)
    site = scope.site
    access = site_access(index, scope)
    members = index.attribute_members(WEB_CONTENT_ATTRIBUTE)
    joined = [t for t in scope.types if t in members]
    if joined:
        causes = tuple(
            f"{t} is in the attribute {WEB_CONTENT_ATTRIBUTE} (the stock web content): every rule on "
            f"{WEB_CONTENT_ATTRIBUTE} reaches it"
            for t in joined
        )
        what = "no site type is stock web content"
        return Finding(Proof.ISOLATION, site.name, "web content", False, what, causes)
    types = (members | {t for t in WEB_CONTENT_TYPES if index.has_type(t)}) - set(scope.types)
    bad = []
    for grant in access.on(sorted(types)):
        documented = any(
            grant.target == w.type and grant.tclass == w.tclass and grant.perms <= w.perms for w in WEB_CONTENT
        )
        if not documented and not _harmless(grant) and grant.ruletype.startswith("allow"):
            bad.append(grant)
        elif not grant.ruletype.startswith("allow"):
            bad.append(grant)
    what = "only the documented search of the stock web content types"
    return Finding(Proof.ISOLATION, site.name, "web content", not bad, what, _rules(bad))


# --------------------------------------------------------------------------- 3. channels

# What moves data into an object of a class, and what takes it out. Connecting to a socket
# (sock_file write) is both: whoever listens on it hears one side and may answer the other.
WRITE_PERMS: dict[str, frozenset[str]] = {
    "file": frozenset({"write", "append", "create"}),
    "lnk_file": frozenset({"write", "append", "create"}),
    "fifo_file": frozenset({"write", "append", "create"}),
    "sock_file": frozenset({"write", "append", "create"}),
    "dir": frozenset({"write", "add_name", "remove_name", "create", "reparent"}),
}
# map alone reads nothing: mmap(PROT_READ) also checks read, PROT_EXEC execute.
READ_PERMS: dict[str, frozenset[str]] = {
    "file": frozenset({"read", "execute"}),
    "lnk_file": frozenset({"read"}),
    "fifo_file": frozenset({"read"}),
    "sock_file": frozenset({"read", "write", "append"}),
    "dir": frozenset({"read"}),
}


def _flow(access: Access, table: dict[str, frozenset[str]]) -> dict[tuple[str, str], list[Grant]]:
    out: dict[tuple[str, str], list[Grant]] = {}
    for target, grants in access.by_target.items():
        for grant in grants:
            if grant.ruletype == "allow" and grant.tclass in table and grant.perms & table[grant.tclass]:
                out.setdefault((target, grant.tclass), []).append(grant)
    return out


def _reachable(access: Access, flows: dict[tuple[str, str], list[Grant]]) -> dict[tuple[str, str], list[Grant]]:
    """Drop what moves data only through a descriptor the process already holds (allowlist.descriptor_only):
    all the domain's permissions on that (type, class) together, under any boolean, lack open and create.
    Drop the base-policy rules of allowlist.SHARED_RULES too, unless the domain may create the object."""
    out = {}
    for key, grants in flows.items():
        held = access.combined(*key)
        if descriptor_only(key[1], held):
            continue
        if "create" not in held:
            # Without the accepted rule, what is left acts only through a descriptor: the path to the
            # object (open) is the accepted rule's, and so is the reason.
            others = [g for g in access.by_target.get(key[0], ()) if g.tclass == key[1] and g.ruletype == "allow"]
            rest = frozenset().union(*(g.perms for g in others if not _shared_rule(g)))
            if any(_shared_rule(g) for g in others) and descriptor_only(key[1], rest):
                continue
            grants = [g for g in grants if not _shared_rule(g)]
        if grants:
            out[key] = grants
    return out


def _shared_rule(grant: Grant) -> bool:
    return any(a.matches(grant.rule_source, grant.rule_target, grant.tclass, grant.perms) for a in SHARED_RULES)


@dataclass(frozen=True)
class FlowSets:
    """What one site can write and read, by (type, class), and all it holds there: computed once per site."""

    writes: dict[tuple[str, str], list[Grant]]
    reads: dict[tuple[str, str], list[Grant]]
    perms: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)


def flow_sets(index: PolicyIndex, site: Site | Scope) -> FlowSets:
    access = site_access(index, scope_of(site))
    writes = _reachable(access, _flow(access, WRITE_PERMS))
    reads = _reachable(access, _flow(access, READ_PERMS))
    perms = {key: access.combined(*key) for key in {*writes, *reads}}
    return FlowSets(writes, reads, perms)


def _shared_entry(type_name: str, tclass: str) -> SharedType | None:
    return next((s for s in SHARED_TYPES if s.type == type_name and tclass in s.classes), None)


def _shared_ok(type_name: str, tclass: str, *holders: FlowSets) -> bool:
    """On the allow-list, and neither side holds more than the permissions the entry accepts."""
    entry = _shared_entry(type_name, tclass)
    if entry is None:
        return False
    return all(h.perms.get((type_name, tclass), frozenset()) <= entry.perms for h in holders)


def _shared_type_only(type_name: str, tclass: str) -> bool:
    return _shared_entry(type_name, tclass) is not None


def prove_no_channel(site: Site | Scope, site_flows: FlowSets, other: Site | Scope, other_flows: FlowSets) -> Finding:
    """No type the other site can write that this site can read, beyond the allow-list."""
    shared = [
        key
        for key in sorted(set(other_flows.writes) & set(site_flows.reads))
        if not _shared_ok(*key, site_flows, other_flows)
    ]
    return _channel_finding(scope_of(site).site, site_flows, scope_of(other).site, other_flows, shared)


def _channel_finding(
    site: Site, site_flows: FlowSets, other: Site, other_flows: FlowSets, shared: Sequence[tuple[str, str]]
) -> Finding:
    rules: list[str] = []
    for key in shared:
        type_name, tclass = key
        entry = _shared_entry(type_name, tclass)
        if entry is not None:
            held = other_flows.perms.get(key, frozenset()) | site_flows.perms.get(key, frozenset())
            extra = sorted(held - entry.perms)
            rules.append(f"{type_name}:{tclass} is on the shared-type allow-list only without {{ {' '.join(extra)} }}")
        rules.append(f"{type_name}:{tclass} written by: " + " | ".join(_rules(other_flows.writes[key])))
        rules.append(f"{type_name}:{tclass} read by: " + " | ".join(_rules(site_flows.reads[key])))
    what = f"nothing {other.name} writes is readable by {site.name}, beyond the shared-type allow-list"
    return Finding(Proof.CHANNELS, site.name, other.name, not rules, what, tuple(rules))


# --------------------------------------------------------------------------- 2 and 3 for every pair at once


def prove_pairs(
    index: PolicyIndex, sites: Sequence[Site | Scope], flows: dict[str, FlowSets]
) -> dict[tuple[str, str], list[Finding]]:
    """Proofs 2 and 3 for every ordered pair of sites, each finding equal to prove_isolation and
    prove_no_channel on that pair, keyed by (site, other).

    Pair by pair, each of the N x (N-1) pairs looks up the other's types in the site's rules and
    intersects two flow sets. Here each site's rules are walked once, through maps from a site type
    to its site and from a (type, class) to the sites that write it: the work is the rules, not the
    pairs, and only pairs that share something are compared.
    """
    scopes = [scope_of(s) for s in sites]
    owners: dict[str, list[str]] = {}
    for other in scopes:
        for type_name in other.types:
            owners.setdefault(type_name, []).append(other.name)
    writers: dict[tuple[str, str], list[str]] = {}
    for other in scopes:
        for key in flows[other.name].writes:
            writers.setdefault(key, []).append(other.name)
    out: dict[tuple[str, str], list[Finding]] = {}
    for scope in scopes:
        touched: dict[str, list[Grant]] = {}
        for target, grants in site_access(index, scope).by_target.items():
            for owner in owners.get(target, ()):
                if owner != scope.name:
                    touched.setdefault(owner, []).extend(g for g in grants if not _harmless(g))
        heard: dict[str, list[tuple[str, str]]] = {}
        site_flows = flows[scope.name]
        for key in site_flows.reads:
            for writer in writers.get(key, ()):
                if writer != scope.name and not _shared_ok(*key, site_flows, flows[writer]):
                    heard.setdefault(writer, []).append(key)
        for other in scopes:
            if other.name == scope.name:
                continue
            grants = touched.get(other.name, [])
            isolation = Finding(
                Proof.ISOLATION, scope.name, other.name, not grants, _isolation_what(scope, other), _rules(grants)
            )
            keys = sorted(heard.get(other.name, ()))
            out[(scope.name, other.name)] = [
                isolation,
                _channel_finding(scope.site, site_flows, other.site, flows[other.name], keys),
            ]
    return out


# --------------------------------------------------------------------------- 4. web server

_READ_DIR = frozenset({"getattr", "ioctl", "lock", "open", "read", "search"})
_READ_FILE = frozenset({"getattr", "ioctl", "lock", "open", "read"})
_READ_LNK = frozenset({"getattr", "read"})
# What httpd_t may hold on each role of a site, class by class; anything else fails.
WEB_SERVER_MAY: dict[str, dict[str, frozenset[str]]] = {
    "content": {"dir": _READ_DIR, "file": _READ_FILE, "lnk_file": _READ_LNK},
    "rw": {"dir": _READ_DIR, "file": _READ_FILE, "lnk_file": _READ_LNK},
    "run": {
        "dir": frozenset({"getattr", "open", "search"}),
        "sock_file": frozenset({"getattr", "open", "write", "append"}),
    },
    "": {"unix_stream_socket": frozenset({"connectto"})},
}


def prove_web_server(index: PolicyIndex, site: Site | Scope) -> list[Finding]:
    scope = scope_of(site)
    site = scope.site
    access = index.access(WEB_SERVER)
    types = site.names.types
    too_much = []
    for type_name in scope.types:
        role = scope.role(type_name)
        allowed = WEB_SERVER_MAY.get(role, {}) if role is not None else {}
        for grant in access.on([type_name]):
            if _harmless(grant):
                continue
            if not grant.ruletype.startswith("allow") or not grant.perms <= allowed.get(grant.tclass, frozenset()):
                too_much.append(grant)
    findings = [
        Finding(
            Proof.WEB_SERVER,
            WEB_SERVER,
            site.name,
            not too_much,
            "httpd_t may only read the docroot, the writable dirs and the uploads in flight (PHP's upload_tmp_dir, "
            "the writable type) and connect to the socket; nothing on sessions, tmp, logs, the pool configuration, "
            "the exec type or any other type of the module",
            _rules(too_much),
        )
    ]
    needs = [
        (types["content"], "dir", "search getattr", "search the docroot"),
        (types["content"], "file", "read open getattr", "read the docroot"),
        (types["rw"], "file", "read open getattr", "read static files in the writable dirs"),
        (types["run"], "dir", "search", "reach the socket"),
        (types["run"], "sock_file", "write", "write to the socket"),
        (types[""], "unix_stream_socket", "connectto", "connect to the php-fpm master"),
    ]
    for target, tclass, perms, what in needs:
        f = _need(Proof.WEB_SERVER, site, access, target, tclass, perms, f"httpd_t may {what}")
        findings.append(Finding(f.proof, WEB_SERVER, site.name, f.ok, f.what, f.rules))
    return findings


# --------------------------------------------------------------------------- 7. network


def _network_allowed(grant: Grant) -> bool:
    return any(a.matches(grant.rule_source, grant.rule_target, grant.tclass, grant.perms) for a in NETWORK_ALLOWANCES)


def prove_network(index: PolicyIndex, site: Site | Scope) -> list[Finding]:
    """An empty `network`: no network socket, no port, no resolver, under any boolean. Each entry: exactly
    its port types plus DNS (name_connect); TCP and UDP sockets only then; raw and packet sockets never."""
    scope = scope_of(site)
    site = scope.site
    access = site_access(index, scope)
    needs = sorted(n.value for n in site.network)
    expected = {p for need in needs for p in NETWORK_PORTS[need]} | (set(DNS_PORTS) if needs else set())
    may_create = {"tcp_socket", "udp_socket", "netlink_route_socket"} if needs else set()
    sockets = []
    for domain in scope.domains:
        for grant in access.by_target.get(domain, ()):
            if grant.tclass in NETWORK_SOCKETS and grant.tclass not in may_create and grant.ruletype == "allow":
                sockets.append(grant)
    ports = []
    for target, grants in access.by_target.items():
        for grant in grants:
            if grant.ruletype != "allow" or grant.tclass not in ("tcp_socket", "udp_socket", "sctp_socket"):
                continue
            if grant.perms & {"name_bind", "node_bind"} and target not in scope.domains:
                ports.append(grant)
            elif "name_connect" in grant.perms and target not in expected:
                ports.append(grant)
    resolvers = []
    if not needs:
        for resolver in RESOLVERS:
            for grant in access.on([resolver]):
                if grant.ruletype == "allow" and grant.tclass in ("unix_stream_socket", "dbus", "nscd"):
                    if not _network_allowed(grant):
                        resolvers.append(grant)
    asked = ", ".join(needs) or "none"
    findings = [
        Finding(
            Proof.NETWORK,
            site.name,
            site.name,
            not sockets,
            f"network sockets only for network entries ({asked}): tcp/udp then, raw/packet/other never",
            _rules(sockets),
        ),
        Finding(
            Proof.NETWORK,
            site.name,
            site.name,
            not ports,
            f"name_connect only to {', '.join(sorted(expected)) or 'no port'}; no port bound",
            _rules(ports),
        ),
    ]
    if not needs:
        findings.append(
            Finding(
                Proof.NETWORK,
                site.name,
                site.name,
                not resolvers,
                "no name resolution through a resolver daemon (nscd, systemd-resolved, ...) without network",
                _rules(resolvers),
            )
        )
    for port in sorted(expected - set(DNS_PORTS)):
        if index.has_type(port):
            f = _need(Proof.NETWORK, site, access, port, "tcp_socket", "name_connect", f"may connect to {port}")
            findings.append(f)
    findings += _prove_database_sockets(index, site, access, "database" in needs)
    return findings


_CONNECTS = {"unix_stream_socket": frozenset({"connectto"}), "sock_file": frozenset({"write", "append"})}


def _prove_database_sockets(index: PolicyIndex, site: Site, access: Access, asked: bool) -> list[Finding]:
    """`database`: connect to the local MySQL/MariaDB and PostgreSQL sockets, with no more than
    allowlist.DATABASE_SOCKETS on their types; without it, no connection to them (under any boolean)."""
    bad = []
    for type_name, classes in sorted(DATABASE_SOCKETS.items()):
        for grant in access.on([type_name]):
            if grant.ruletype not in ("allow", "type_transition", "type_change"):
                continue
            if not asked:
                if grant.perms & _CONNECTS.get(grant.tclass, frozenset()):
                    bad.append(grant)
            elif _harmless(grant) or _shared_rule(grant):
                continue  # what the base policy gives every domain (allowlist.py: HARMLESS, SHARED_RULES)
            elif grant.ruletype != "allow" or not grant.perms <= classes.get(grant.tclass, frozenset()):
                bad.append(grant)
    if asked:
        what = "local database sockets: search, write the socket, connectto mysqld_t and postgresql_t, no more"
    else:
        what = "no connection to the local database servers (mysqld_t, postgresql_t) without database"
    findings = [Finding(Proof.NETWORK, site.name, site.name, not bad, what, _rules(bad))]
    if asked:
        for server, socket_types in DATABASE_SERVERS.items():
            if not index.has_type(server):
                continue
            what = f"may connect to {server}"
            findings.append(_need(Proof.NETWORK, site, access, server, "unix_stream_socket", "connectto", what))
            present = [c for c in (index.canonical(t) for t in socket_types) if c is not None]
            if present:
                findings.append(
                    _need(Proof.NETWORK, site, access, present[0], "sock_file", "write", f"may write {present[0]}")
                )
    return findings


# --------------------------------------------------------------------------- 8. web server deputy


def prove_deputy(index: PolicyIndex, site: Site | Scope, others: Sequence[Site | Scope]) -> Finding:
    """No link the web server follows can be the site's own: httpd_t reads every other site's files,
    so a symlink the site creates where httpd_t follows it serves another site's files (issue 12)."""
    scope = scope_of(site)
    access = site_access(index, scope)
    httpd = index.access(WEB_SERVER)
    reaches = sorted(
        t
        for o in map(scope_of, others)
        if o.name != scope.name
        for t in o.types
        if "read" in httpd.perms(t, "file", unconditional=False)
    )
    bad: list[str] = []
    for target, grants in sorted(access.by_target.items()):
        created = [g for g in grants if g.tclass == "lnk_file" and g.ruletype == "allow" and "create" in g.perms]
        created += [g for g in grants if g.tclass == "lnk_file" and g.ruletype == "type_transition"]
        if not created:
            continue
        followed = httpd.grants(target, "lnk_file", frozenset({"read"}))
        if followed:
            bad.append(
                f"{target}:lnk_file created by: "
                + " | ".join(_rules(created))
                + " ; followed by httpd_t: "
                + " | ".join(_rules(followed))
                + (f" ; httpd_t reads {', '.join(reaches[:3])}{' ...' if len(reaches) > 3 else ''}" if reaches else "")
            )
    what = "no symlink the site can create is followed by the web server (it reads every other site)"
    return Finding(Proof.DEPUTY, scope.name, scope.name, not bad, what, tuple(bad))


# --------------------------------------------------------------------------- 9. domains of the module


def _allowed_transition(grant: Grant) -> bool:
    return any(
        a.matches(grant.rule_source, grant.rule_target, grant.tclass, grant.perms) for a in TRANSITION_ALLOWANCES
    )


def prove_domains(index: PolicyIndex, site: Site | Scope) -> list[Finding]:
    """Every domain of the module is known, and the site's domains may enter no domain but their own."""
    scope = scope_of(site)
    site = scope.site
    access = site_access(index, scope)
    extra = [d for d in scope.domains if d != site.names.domain]
    findings = [
        Finding(
            Proof.DOMAINS,
            site.name,
            site.name,
            True,
            f"domains of the module: {', '.join(scope.domains)} (each proven like the site domain)",
        )
    ]
    permissive = [d for d in extra if index.permissive(d)]
    if permissive:
        findings.append(
            Finding(
                Proof.DOMAINS,
                site.name,
                site.name,
                False,
                "no domain of the module is permissive",
                tuple(f"permissive {d}; (denies nothing)" for d in permissive),
            )
        )
    domains = index.attribute_members("domain")
    candidates: dict[str, list[Grant]] = {}
    for target, grants in sorted(access.by_target.items()):
        if target in scope.domains or target not in domains:
            continue
        for grant in grants:
            if grant.tclass != "process":
                continue
            if grant.ruletype == "allow" and grant.perms & {"transition", "dyntransition"}:
                candidates.setdefault(target, []).append(grant)
            elif grant.ruletype in ("type_transition", "type_change"):
                candidates.setdefault(target, []).append(grant)
    may_setcurrent = any("setcurrent" in access.combined(d, "process") for d in scope.domains)
    # mail: sendmail: the helper (never the site domain itself) enters the target's mail domain; proof 10
    # proves what that domain, and every domain it may enter, holds of any site.
    helper = site.names.mail_helper if site.mail and site.names.mail_helper in scope.domains else None
    gone: list[Grant] = []
    for target, grants in candidates.items():
        if helper is not None and target == MAIL_DOMAIN and not _enters(index, site.names.domain, target):
            continue
        perms = frozenset().union(*(g.perms for g in grants if g.ruletype == "allow"))
        # An exec transition needs an entrypoint of the target the site may execute; a dyntransition, setcurrent.
        executable = [e for e in index.entrypoints(target) if "execute" in access.combined(e, "file")]
        allowed = [g for g in grants if g.ruletype == "allow" and _allowed_transition(g)]
        if allowed and all(_allowed_transition(g) for g in grants if g.ruletype == "allow"):
            continue  # on the transition allow-list (a base-policy rule on every domain)
        if ("transition" in perms and executable) or ("dyntransition" in perms and may_setcurrent):
            gone += grants
            gone += [g for e in executable for g in access.on([e]) if g.tclass == "file" and "execute" in g.perms]
    entered = sorted({g.target for g in gone if g.tclass == "process" and g.target in domains})
    findings.append(
        Finding(
            Proof.DOMAINS,
            site.name,
            site.name,
            not gone,
            "the site's domains may enter no other domain" + (f" (may enter: {', '.join(entered)})" if entered else ""),
            _rules(gone),
        )
    )
    return findings


def _enters(index: PolicyIndex, domain: str, target: str) -> bool:
    """``domain`` may enter ``target``: a transition and an entrypoint of it that ``domain`` may execute."""
    access = index.access(domain)
    if "transition" not in access.combined(target, "process"):
        return False
    return any("execute" in access.combined(e, "file") for e in index.entrypoints(target))


def _entered(index: PolicyIndex, domain: str, nnp: bool = False) -> set[str]:
    """The domains ``domain`` may enter (exec transition, or dyntransition with setcurrent), base-policy
    transitions every domain has (TRANSITION_ALLOWANCES) left out. ``nnp``: the process runs under
    NoNewPrivileges (the site's unit sets it, and no descendant can clear it): the kernel then allows an exec
    transition only with process2 nnp_transition (or into a type bounded by the old one)."""
    access = index.access(domain)
    domains = index.attribute_members("domain")
    may_setcurrent = "setcurrent" in access.combined(domain, "process")
    out = set()
    for target, grants in access.by_target.items():
        if target == domain or target not in domains:
            continue
        allows = [g for g in grants if g.tclass == "process" and g.ruletype == "allow"]
        if allows and all(_allowed_transition(g) for g in allows):
            continue
        perms = frozenset().union(*(g.perms for g in allows)) if allows else frozenset()
        nnp_ok = not nnp or "nnp_transition" in access.combined(target, "process2") or index.bounds(domain, target)
        if ("transition" in perms and nnp_ok and _enters(index, domain, target)) or (
            "dyntransition" in perms and may_setcurrent
        ):
            out.add(target)
    return out


def mail_domains(index: PolicyIndex, start: str = MAIL_DOMAIN, limit: int = 64) -> tuple[str, ...]:
    """The mail domain and every domain it may enter, and they in turn (breadth first, one preload pass per
    level), all under NoNewPrivileges as the site's processes are. Code the site makes sendmail run (its
    arguments are the site's) runs in one of these."""
    if not index.has_type(start):
        return ()
    seen = [start]
    level = [start]
    while level and len(seen) < limit:
        index.preload(level)
        following = sorted({t for d in level for t in _entered(index, d, nnp=True)} - set(seen))
        seen += following
        level = following
    return tuple(seen)


def prove_mail(
    index: PolicyIndex, site: Site | Scope, scopes: Sequence[Scope], reached: Sequence[str]
) -> list[Finding]:
    """Without `mail`: no shell for the site. With `mail: sendmail`: a shell enters the helper, which may run
    the target's sendmail (into the mail domain) and nothing else: no other program, no network, nothing
    of any site. And neither the mail domain nor any domain it may enter holds anything of any site but the
    descriptors of the sites that send mail."""
    scope = scope_of(site)
    site = scope.site
    names = site.names
    findings: list[Finding] = []
    own = index.access(names.domain)

    def finding(ok: bool, what: str, rules: Sequence[str] = ()) -> Finding:
        return Finding(Proof.MAIL, site.name, site.name, ok, what, tuple(rules))

    helper = names.mail_helper
    if not site.mail:
        shell = [
            g for g in own.on(["shell_exec_t"]) if g.ruletype == "allow" and g.tclass == "file" and "execute" in g.perms
        ]
        declared = [helper] if helper in scope.types else []
        findings.append(
            finding(
                not shell and not declared,
                "without mail: the site may not run a shell (no execute on shell_exec_t), and no helper domain",
                [*_rules(shell), *(f"type {d}; declared without mail" for d in declared)],
            )
        )
        return findings
    if helper not in scope.domains:
        return [finding(False, f"mail: {site.mail}: the helper domain {helper} is not a domain of the module")]
    # The way in: a shell started by the site enters the helper, automatically and under NoNewPrivileges.
    automatic = [
        g
        for g in own.on(["shell_exec_t"])
        if g.ruletype == "type_transition" and g.tclass == "process" and g.rule.split()[-1].rstrip(";") == helper
    ]
    findings.append(
        finding(
            bool(automatic),
            f"a shell the site starts enters {helper}",
            () if automatic else (f"no type_transition {names.domain} shell_exec_t:process {helper};",),
        )
    )
    f = _need(Proof.MAIL, site, own, helper, "process2", "nnp_transition", "also under NoNewPrivileges=yes")
    findings.append(f)
    access = index.access(helper)
    # Programs: the helper runs none in its own domain, and enters only the mail domain.
    # A mail entrypoint the helper has a type_transition on always transitions (execute_no_trans on it would
    # need setexec to ask for no transition): that is sendmail in the mail domain, not in the helper.
    automatic_mail = {
        g.target
        for g in access.on(index.entrypoints(MAIL_DOMAIN))
        if g.ruletype == "type_transition" and g.tclass == "process" and g.rule.split()[-1].rstrip(";") == MAIL_DOMAIN
    }
    no_setexec = "setexec" not in access.combined(helper, "process")
    runs = [
        g
        for grants in access.by_target.values()
        for g in grants
        if g.ruletype == "allow"
        and g.tclass == "file"
        and "execute_no_trans" in g.perms
        and not any(a.matches(g.rule_source, g.rule_target, g.tclass, g.perms) for a in MAIL_HELPER_PROGRAMS)
        and not (no_setexec and g.target in automatic_mail)
    ]
    findings.append(finding(not runs, f"{helper} runs no program in its own domain (execute_no_trans)", _rules(runs)))
    entered = _entered(index, helper, nnp=True)
    findings.append(
        finding(
            entered == {MAIL_DOMAIN},
            f"{helper} may enter {MAIL_DOMAIN} (the target's sendmail) and no other domain"
            + (f" (may enter: {', '.join(sorted(entered))})" if entered != {MAIL_DOMAIN} else ""),
            [f"{helper} may enter {d}" for d in sorted(entered - {MAIL_DOMAIN})]
            or ([] if MAIL_DOMAIN in entered else [f"{helper} may not enter {MAIL_DOMAIN}"]),
        )
    )
    f = _need(
        Proof.MAIL,
        site,
        access,
        MAIL_DOMAIN,
        "process2",
        "nnp_transition",
        f"{helper} enters {MAIL_DOMAIN} under NoNewPrivileges",
    )
    findings.append(f)
    # Network: no socket of its own, no port, no connection to any server socket beyond the base rules of
    # every domain (allowlist.NETWORK_ALLOWANCES).
    net = []
    servers = {*RESOLVERS, *DATABASE_SERVERS}
    for target, grants in access.by_target.items():
        for g in grants:
            if g.ruletype != "allow" or _network_allowed(g):
                continue
            if target == helper and g.tclass in NETWORK_SOCKETS:
                net.append(g)
            elif g.tclass in ("tcp_socket", "udp_socket") and g.perms & {"name_connect", "name_bind"}:
                net.append(g)
            elif target in servers and g.perms & {"connectto", "sendto", "send_msg"}:
                net.append(g)
    findings.append(
        finding(not net, f"{helper} has no network: no socket, no port, no server it may connect to", _rules(net))
    )
    # Nothing of any site: the helper's rules on every site type (its own site's included) but its own
    # domains' descriptors (the pipe and the parent it inherits from the site domain).
    own_domains = set(scope.domains)
    touched = [
        g
        for other in scopes
        for g in access.on(other.types)
        if not _harmless(g)
        and g.target != helper  # its own process (fork, /proc/self, a socketpair)
        and not (g.target in own_domains and other.name == site.name and _descriptor(g))
    ]
    findings.append(
        finding(not touched, f"{helper} holds nothing of any site but the descriptors of its own site", _rules(touched))
    )
    # The mail domain and every domain it may enter: only descriptors of sites that send mail.
    senders = {d for other in scopes if other.site.mail for d in other.domains}
    leaks = [
        g
        for domain in reached
        for other in scopes
        for g in index.access(domain).on(other.types)
        if not _harmless(g) and not (g.target in senders and _descriptor(g)) and not _path_through(g)
    ]
    findings.append(
        finding(
            bool(reached) and not leaks,
            f"the mail domains ({', '.join(reached) or 'none: ' + MAIL_DOMAIN + ' is missing'}) hold nothing of any "
            "site but the descriptors of the sites that send mail (fd use, the pipe without open, sigchld)",
            _rules(leaks),
        )
    )
    return findings


def _path_through(grant: Grant) -> bool:
    """A rule written on an attribute that lets the mail domain search a directory: a path, no listing."""
    on_attribute = grant.rule_target not in ("", grant.target, "self")
    return grant.ruletype == "allow" and on_attribute and grant.tclass == "dir" and grant.perms <= MAIL_PATH_THROUGH


def _descriptor(grant: Grant) -> bool:
    return grant.ruletype == "allow" and grant.perms <= MAIL_MAY_HOLD.get(grant.tclass, frozenset())


# --------------------------------------------------------------------------- 5. what php-fpm needs

_MANAGE_DIR = "search read write add_name remove_name create rmdir"
_MANAGE_FILE = "create open read write append unlink rename getattr setattr"


def prove_needs(
    index: PolicyIndex, site: Site, notify_types: Sequence[str] = ("init_runtime_t", "init_var_run_t")
) -> list[Finding]:
    t = site.names.types
    d = t[""]
    access = index.access(d)
    checks = [
        (t["content"], "dir", "search read getattr open", "list its docroot"),
        (t["content"], "file", "read open getattr map", "read (and map) its docroot"),
    ]
    for role in ("rw", "sessions", "tmp", "log", "run"):
        checks += [
            (t[role], "dir", _MANAGE_DIR, f"manage its {role} directories"),
            (t[role], "file", _MANAGE_FILE, f"manage its {role} files"),
        ]
    checks += [
        (t["run"], "sock_file", "create unlink setattr getattr", "create its FastCGI socket"),
        (d, "unix_stream_socket", "create bind listen accept", "bind and listen on its socket"),
        (d, "capability", "setuid setgid", "switch to the pool user and group"),
        ("init_t", "unix_dgram_socket", "sendto", "notify systemd (sd_notify datagram to init)"),
    ]
    notify = next((n for n in notify_types if index.has_type(n)), notify_types[0])
    checks.append((notify, "sock_file", "write", "notify systemd (write to the notify socket)"))
    return [_need(Proof.NEEDS, site, access, *check[:3], check[3]) for check in checks]


# --------------------------------------------------------------------------- 6. file contexts


@dataclass(frozen=True)
class FcLine:
    regex: str
    context: str

    def matches(self, path: str) -> bool:
        try:
            return re.fullmatch(self.regex, path) is not None
        except re.error:
            return False


def parse_fc(text: str) -> list[FcLine]:
    lines = []
    for raw in text.splitlines():
        parts = raw.split()
        if len(parts) >= 2 and not raw.lstrip().startswith("#"):
            lines.append(FcLine(parts[0], parts[-1]))
    return lines


def representative_paths(site: Site) -> list[tuple[str, str]]:
    """(path, role) a site's files must resolve to."""
    paths = [
        (str(site.docroot), "content"),
        (str(site.docroot / "index.php"), "content"),
        (str(site.sessions_dir), "sessions"),
        (str(site.sessions_dir / "sess_0123456789abcdef"), "sessions"),
        (str(site.tmp_dir / "php-tmp"), "tmp"),
        (str(site.upload_tmp_dir), "rw"),
        (str(site.upload_tmp_dir / "phpAbC123"), "rw"),
        (str(site.log_dir / "php-fpm.log"), "log"),
        (str(site.socket), "run"),
        (str(PurePosixPath("/var") / site.socket.relative_to("/")), "run"),
    ]
    for directory in site.writable_dirs:
        paths += [(str(directory), "rw"), (str(directory / "upload.jpg"), "rw")]
    return paths


def lookalike_paths(site: Site) -> list[tuple[str, frozenset[str]]]:
    """Paths that only look like the site's, and the site types each must not resolve to.

    Each dot of a site path replaced by another character, and siblings with the path as prefix.
    Inside the docroot a look-alike of a writable dir is docroot content, so only the writable type
    is forbidden there.
    """
    own = frozenset(site.names.types.values())
    inside = own - {site.names.type("content")}
    candidates: set[str] = set()
    for base in (site.docroot, site.sessions_dir.parent, site.log_dir, site.run_dir, *site.writable_dirs):
        text = str(base)
        for match in re.finditer(r"\.", text):
            replaced = text[: match.start()] + "X" + text[match.end() :]
            candidates |= {replaced, replaced + "/index.php"}
        candidates |= {text + "-old", text + "-old/index.php", text + "X/index.php"}
    out = []
    for path in sorted(candidates):
        pure = PurePosixPath(path)
        if any(pure.is_relative_to(d) for d in site.writable_dirs):
            continue  # a real writable dir (e.g. uploads and uploads-old both declared)
        out.append((path, inside if pure.is_relative_to(site.docroot) else own))
    return out


def _context_type(context: str) -> str:
    parts = context.split(":")
    return parts[2] if len(parts) >= 3 else context


class Labeler:
    """libselinux label lookups against the private copy's file_contexts."""

    def __init__(self, file_contexts: str) -> None:
        import selinux

        self._selinux = selinux
        opt = selinux.selinux_opt()
        opt.type = selinux.SELABEL_OPT_PATH
        opt.value = file_contexts
        self._handle = selinux.selabel_open(selinux.SELABEL_CTX_FILE, opt, 1)

    def type_of(self, path: str) -> str:
        try:
            _, context = self._selinux.selabel_lookup(self._handle, path, 0)
        except OSError:
            return "<none>"
        return _context_type(context)


# An .fc entry the proof can read: a literal path (every metacharacter escaped), optionally "(/.*)?".
_FC_LITERAL = re.compile(r"^(?P<path>/(?:[^.^$*+?()\[\]{}|\\]|\\.)*)(?P<below>\(/\.\*\)\?)?$")


def own_roots(site: Site) -> list[PurePosixPath]:
    """The trees a site's .fc may label: each is the site's alone (no shared parent)."""
    run = site.run_dir
    return [
        site.docroot,
        site.sessions_dir,
        site.tmp_dir,
        site.log_dir,
        run,
        PurePosixPath("/var") / run.relative_to("/"),
        site.config_dir,
    ]


class SitePaths:
    """The own trees of every site, to tell in a few lookups whose tree a path is in (built once per verify)."""

    def __init__(self, sites: Sequence[Site]) -> None:
        self._owner: dict[str, str] = {}
        for site in sites:
            for root in own_roots(site):
                self._owner.setdefault(str(root), site.name)
        self._sorted = sorted(self._owner)

    def others_at(self, site: Site, path: PurePosixPath, below: bool) -> list[tuple[str, str]]:
        """(root, owner) of other sites whose tree holds ``path``, or, if ``below``, lies under it."""
        hits = []
        for ancestor in (path, *path.parents):
            owner = self._owner.get(str(ancestor))
            if owner is not None and owner != site.name:
                hits.append((str(ancestor), owner))
        if below:
            prefix = str(path).rstrip("/") + "/"
            start = bisect.bisect_left(self._sorted, prefix)
            for root in self._sorted[start:]:
                if not root.startswith(prefix):
                    break
                if self._owner[root] != site.name:
                    hits.append((root, self._owner[root]))
        return hits


def _fc_confined(site: Site, line: FcLine, others: SitePaths) -> str | None:
    """Why an .fc entry of ``site`` leaves its own paths, or None."""
    entry = f"{line.regex}\t{line.context}"
    match = _FC_LITERAL.match(line.regex)
    if match is None:
        return f"{entry}: not a literal path of the site (a pattern could match paths of other sites)"
    path = PurePosixPath(re.sub(r"\\(.)", r"\1", match.group("path")))
    if not any(path == root or path.is_relative_to(root) for root in own_roots(site)):
        return f"{entry}: {path} is outside the paths of {site.name} ({', '.join(map(str, own_roots(site)))})"
    hits = others.others_at(site, path, below=match.group("below") is not None)
    if hits:
        root, owner = hits[0]
        return f"{entry}: labels {root} of {owner}"
    return None


def prove_file_contexts(
    labeler: Labeler, site: Site, module_fc: str, others: Sequence[Site] | SitePaths = ()
) -> list[Finding]:
    types = site.names.types
    fc = parse_fc(module_fc)
    findings = []
    wrong = []
    for path, role in representative_paths(site):
        got = labeler.type_of(path)
        if got != types[role]:
            wrong.append(f"{path} is {got}, expected {types[role]}")
    findings.append(
        Finding(
            Proof.FILE_CONTEXTS, site.name, site.name, not wrong, "the site paths resolve to its types", tuple(wrong)
        )
    )
    leaks = []
    for path, forbidden in lookalike_paths(site):
        got = labeler.type_of(path)
        if got in forbidden:
            lines = [f"{line.regex}\t{line.context}" for line in fc if line.matches(path)]
            leaks.append(f"{path} resolves to {got} by: " + (" | ".join(lines) or "an entry outside the module"))
    findings.append(
        Finding(
            Proof.FILE_CONTEXTS,
            site.name,
            site.name,
            not leaks,
            "look-alike paths (a dot replaced, a sibling with the name as prefix) do not",
            tuple(leaks),
        )
    )
    paths = others if isinstance(others, SitePaths) else SitePaths([site, *others])
    outside = [why for why in (_fc_confined(site, line, paths) for line in fc) if why]
    findings.append(
        Finding(
            Proof.FILE_CONTEXTS,
            site.name,
            site.name,
            not outside,
            "every .fc entry stays inside the site's own paths (no other site's tree, no shared parent)",
            tuple(outside),
        )
    )
    missing = []
    regexes = {line.regex for line in fc}
    run_dir = site.run_dir
    for spelling in (run_dir, PurePosixPath("/var") / run_dir.relative_to("/")):
        if not any(r.startswith(fc_regex(spelling)) for r in regexes):
            missing.append(f"no entry for {spelling} in the module .fc")
    findings.append(
        Finding(
            Proof.FILE_CONTEXTS,
            site.name,
            site.name,
            not missing,
            "the run directory is in the .fc in both /run and /var/run spellings",
            tuple(missing),
        )
    )
    return findings
