"""What a linked policy grants each site, in a form two policy shapes can be compared in (issue 11).

For each site: every TE rule whose source is, or is an attribute containing, the site's domain; every
TE rule whose target is, or is an attribute containing, one of the site's types; the attributes each
type is in; the roles holding the domain; whether it is permissive; its file contexts. A rule is
expanded to one (rule type, other end, class, permission, condition) tuple per permission. The other
end keeps the base policy's names (``domain``, ``file_type`` ...: they hold the same types in both
shapes) but sitepolicy's own attributes are expanded to their types, so a rule written once on
``sitepolicy_content`` compares equal to the same rule written in each site's module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..definition.site import Site

SITEPOLICY_PREFIX = "sitepolicy_"
# Attributes only the compiler's bookkeeping adds; not part of what a type is.
IGNORED_ATTRIBUTES = ("cil_gen_require",)

Tuple = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class SiteView:
    """Everything the linked policy gives one site's types."""

    site: str
    domain_rules: frozenset[Tuple]  # (rule type, target, class, permission, condition)
    type_rules: tuple[tuple[str, frozenset[Tuple]], ...]  # per type: (rule type, source, class, permission, condition)
    attributes: tuple[tuple[str, frozenset[str]], ...]
    roles: frozenset[str]
    permissive: bool
    file_contexts: frozenset[str]

    @property
    def allow_count(self) -> int:
        return sum(1 for r in self.domain_rules if r[0] == "allow")

    @property
    def dontaudit_count(self) -> int:
        return sum(1 for r in self.domain_rules if r[0] == "dontaudit")


def _condition(rule: Any) -> str:
    try:
        return f"{rule.conditional} = {rule.conditional_block}"
    except Exception:  # setools raises RuleNotConditional for an unconditional rule
        return ""


def _perms(rule: Any) -> list[str]:
    try:
        return sorted(str(p) for p in rule.perms)
    except Exception:  # type_transition, type_change, type_member: a default type instead of permissions
        return [f"default={rule.default}"]


def site_types(site: Site) -> list[str]:
    """The types a site's module declares: one per role, and the mail helper with ``mail:``."""
    types = list(site.names.types.values())
    return sorted([*types, site.names.mail_helper] if site.mail is not None else types)


def policy_views(policy_kern: Path, file_contexts: Path, sites: Sequence[Site]) -> list[SiteView]:
    """The view of each site in the linked policy ``policy_kern`` (one pass over its TE rules)."""
    import setools

    policy = setools.SELinuxPolicy(str(policy_kern))
    own = {str(a) for a in policy.typeattributes() if str(a).startswith(SITEPOLICY_PREFIX)}
    domains = {site.names.domain for site in sites}
    all_types = {t for site in sites for t in site_types(site)}
    expanded: dict[str, frozenset[str]] = {}

    def members(end: Any) -> frozenset[str]:
        name = str(end)
        if name not in expanded:
            expanded[name] = frozenset(str(t) for t in end.expand())
        return expanded[name]

    def other_end(end: Any, myself: str) -> list[str]:
        # sitepolicy's own attributes expanded to their types; the base policy's names kept as written.
        name = str(end)
        if name == "self":
            return [myself]
        return sorted(members(end)) if name in own else [name]

    domain_rules: dict[str, set[Tuple]] = {d: set() for d in domains}
    type_rules: dict[str, set[Tuple]] = {t: set() for t in all_types}
    for rule in policy.terules():
        sources = members(rule.source)
        self_rule = str(rule.target) == "self"
        targets = sources if self_rule else members(rule.target)
        hit_sources = sources & domains
        hit_targets = targets & all_types
        if not hit_sources and not hit_targets:
            continue
        condition, perms = _condition(rule), _perms(rule)
        kind, tclass = str(rule.ruletype), str(rule.tclass)
        for domain in hit_sources:
            for end in other_end(rule.target, domain):
                domain_rules[domain].update((kind, end, tclass, perm, condition) for perm in perms)
        for name in hit_targets:
            for end in [name] if self_rule else other_end(rule.source, name):
                type_rules[name].update((kind, end, tclass, perm, condition) for perm in perms)
    roles = {str(r): {str(t) for t in r.types()} for r in policy.roles()}
    text = file_contexts.read_text()
    views = []
    for site in sites:
        domain = site.names.domain
        types = site_types(site)
        attributes = tuple(
            (
                name,
                frozenset(
                    str(a)
                    for a in policy.lookup_type(name).attributes()
                    if not str(a).startswith(SITEPOLICY_PREFIX) and str(a) not in IGNORED_ATTRIBUTES
                ),
            )
            for name in types
        )
        contexts = frozenset(line.strip() for line in text.splitlines() if any(t + ":" in line for t in types))
        views.append(
            SiteView(
                site.name,
                frozenset(domain_rules[domain]),
                tuple((name, frozenset(type_rules[name])) for name in types),
                attributes,
                frozenset(r for r, members_ in roles.items() if domain in members_),
                bool(policy.lookup_type(domain).ispermissive),
                contexts,
            )
        )
    return views


def differences(old: SiteView, new: SiteView, limit: int = 20) -> list[str]:
    """Every way ``new`` grants ``old``'s site more or less than ``old`` (empty: the same)."""
    out: list[str] = []

    def sets(what: str, a: frozenset[Any], b: frozenset[Any]) -> None:
        for item in sorted(a - b)[:limit]:
            out.append(f"{old.site}: {what}: only in the old shape: {item}")
        for item in sorted(b - a)[:limit]:
            out.append(f"{old.site}: {what}: only in the new shape: {item}")

    sets("rules of the domain", old.domain_rules, new.domain_rules)
    for (name, a), (_, b) in zip(old.type_rules, new.type_rules):
        sets(f"rules on {name}", a, b)
    for (name, before), (_, after) in zip(old.attributes, new.attributes):
        sets(f"attributes of {name}", before, after)
    sets("roles", old.roles, new.roles)
    sets("file contexts", old.file_contexts, new.file_contexts)
    if old.permissive != new.permissive:
        out.append(f"{old.site}: permissive {old.permissive} -> {new.permissive}")
    return out
