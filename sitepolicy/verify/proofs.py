"""The six proofs, each a function of the linked policy returning findings with the rules as text.

Subjects are site domains (and httpd_t, init_t); objects are a site's types (names.TYPE_ROLES).
A finding that fails carries the exact rules that make it fail, or, for a missing permission, the
permission that no rule grants.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..definition.site import Site
from ..render import fc_regex
from .access import Access, Grant, PolicyIndex
from .allowlist import HARMLESS, SHARED_TYPES, WEB_CONTENT, WEB_CONTENT_ATTRIBUTE, WEB_CONTENT_TYPES

WEB_SERVER = "httpd_t"
INIT = "init_t"


class Proof(enum.IntEnum):
    ENTRY = 1
    ISOLATION = 2
    CHANNELS = 3
    WEB_SERVER = 4
    NEEDS = 5
    FILE_CONTEXTS = 6

    @property
    def title(self) -> str:
        return {
            1: "entry from systemd",
            2: "no rule on another site's types",
            3: "no channel through a shared type",
            4: "web server: read and connect only",
            5: "what php-fpm needs",
            6: "file contexts",
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


def _rules(grants: Sequence[Grant]) -> tuple[str, ...]:
    return tuple(sorted({g.rule for g in grants}))


def _harmless(grant: Grant) -> bool:
    return any(grant.tclass == h.tclass and grant.perms <= h.perms for h in HARMLESS)


def _need(finding_proof: Proof, site: Site, access: Access, target: str, tclass: str, perms: str, what: str) -> Finding:
    wanted = frozenset(perms.split())
    missing = wanted - access.perms(target, tclass)
    if missing:
        detail = f"no unconditional rule allows {access.source} {target}:{tclass} {{ {' '.join(sorted(missing))} }}"
        return Finding(finding_proof, site.name, site.name, False, f"{what}: {detail}", (detail,))
    return Finding(finding_proof, site.name, site.name, True, what)


# --------------------------------------------------------------------------- 1. entry


def prove_entry(index: PolicyIndex, site: Site, exec_type: str = "httpd_exec_t") -> list[Finding]:
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


def prove_isolation(index: PolicyIndex, site: Site, other: Site) -> Finding:
    """The site domain has no rule of any permission on any of the other site's types."""
    access = index.access(site.names.domain)
    grants = [g for g in access.on(other.names.types.values()) if not _harmless(g)]
    what = f"{site.names.domain} has no rule on the types of {other.name}"
    return Finding(Proof.ISOLATION, site.name, other.name, not grants, what, _rules(grants))


def prove_web_content(index: PolicyIndex, site: Site) -> Finding:
    """Only the documented access to the stock shared web content types (httpd_sys_content_t, ...)."""
    access = index.access(site.names.domain)
    types = index.attribute_members(WEB_CONTENT_ATTRIBUTE) | {t for t in WEB_CONTENT_TYPES if index.has_type(t)}
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
READ_PERMS: dict[str, frozenset[str]] = {
    "file": frozenset({"read", "map", "execute"}),
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


@dataclass(frozen=True)
class FlowSets:
    """What one domain can write and read, by (type, class): computed once per domain."""

    writes: dict[tuple[str, str], list[Grant]]
    reads: dict[tuple[str, str], list[Grant]]


def flow_sets(index: PolicyIndex, site: Site) -> FlowSets:
    access = index.access(site.names.domain)
    return FlowSets(_flow(access, WRITE_PERMS), _flow(access, READ_PERMS))


def _shared_ok(type_name: str, tclass: str) -> bool:
    return any(s.type == type_name and tclass in s.classes for s in SHARED_TYPES)


def prove_no_channel(site: Site, site_flows: FlowSets, other: Site, other_flows: FlowSets) -> Finding:
    """No type the other site can write that this site can read, beyond the allow-list."""
    shared = [key for key in sorted(set(other_flows.writes) & set(site_flows.reads)) if not _shared_ok(*key)]
    return _channel_finding(site, site_flows, other, other_flows, shared)


def _channel_finding(
    site: Site, site_flows: FlowSets, other: Site, other_flows: FlowSets, shared: Sequence[tuple[str, str]]
) -> Finding:
    rules: list[str] = []
    for key in shared:
        type_name, tclass = key
        rules.append(f"{type_name}:{tclass} written by: " + " | ".join(_rules(other_flows.writes[key])))
        rules.append(f"{type_name}:{tclass} read by: " + " | ".join(_rules(site_flows.reads[key])))
    what = f"nothing {other.name} writes is readable by {site.name}, beyond the shared-type allow-list"
    return Finding(Proof.CHANNELS, site.name, other.name, not rules, what, tuple(rules))


# --------------------------------------------------------------------------- 2 and 3 for every pair at once


def prove_pairs(
    index: PolicyIndex, sites: Sequence[Site], flows: dict[str, FlowSets]
) -> dict[tuple[str, str], list[Finding]]:
    """Proofs 2 and 3 for every ordered pair of sites, each finding equal to prove_isolation and
    prove_no_channel on that pair, keyed by (site, other).

    Pair by pair, each of the N x (N-1) pairs looks up the other's types in the site's rules and
    intersects two flow sets. Here each site's rules are walked once, through maps from a site type
    to its site and from a (type, class) to the sites that write it: the work is the rules, not the
    pairs, and only pairs that share something are compared.
    """
    owners: dict[str, list[str]] = {}
    for other in sites:
        for type_name in dict.fromkeys(other.names.types.values()):
            owners.setdefault(type_name, []).append(other.name)
    writers: dict[tuple[str, str], list[str]] = {}
    for other in sites:
        for key in flows[other.name].writes:
            if not _shared_ok(*key):
                writers.setdefault(key, []).append(other.name)
    out: dict[tuple[str, str], list[Finding]] = {}
    for site in sites:
        touched: dict[str, list[Grant]] = {}
        domain = site.names.domain
        for target, grants in index.access(domain).by_target.items():
            for owner in owners.get(target, ()):
                if owner != site.name:
                    touched.setdefault(owner, []).extend(g for g in grants if not _harmless(g))
        heard: dict[str, list[tuple[str, str]]] = {}
        site_flows = flows[site.name]
        for key in site_flows.reads:
            for writer in writers.get(key, ()):
                if writer != site.name:
                    heard.setdefault(writer, []).append(key)
        for other in sites:
            if other.name == site.name:
                continue
            grants = touched.get(other.name, [])
            what = f"{domain} has no rule on the types of {other.name}"
            isolation = Finding(Proof.ISOLATION, site.name, other.name, not grants, what, _rules(grants))
            out[(site.name, other.name)] = [
                isolation,
                _channel_finding(site, site_flows, other, flows[other.name], sorted(heard.get(other.name, ()))),
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


def prove_web_server(index: PolicyIndex, site: Site) -> list[Finding]:
    access = index.access(WEB_SERVER)
    types = site.names.types
    too_much = []
    for role, type_name in types.items():
        allowed = WEB_SERVER_MAY.get(role, {})
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
            "httpd_t may only read the docroot and writable dirs and connect to the socket; "
            "nothing on sessions, tmp, logs or the exec type",
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
        (str(site.tmp_dir / "php-upload"), "tmp"),
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


def prove_file_contexts(labeler: Labeler, site: Site, module_fc: str) -> list[Finding]:
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
