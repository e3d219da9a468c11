"""Every TE rule one source can use, indexed by the concrete target type (attributes expanded).

setools' TERuleQuery(source=T) already matches rules written on attributes that contain T; we query
once per source (a query costs about half a second on a full policy) and expand the targets here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Rules that grant, or that give an object or a process a type; dontaudit, auditallow and neverallow do not.
GRANTING_RULES = ("allow", "allowxperm", "type_transition", "type_change", "type_member")


@dataclass(frozen=True)
class Grant:
    """One rule as it applies to one concrete target type."""

    target: str
    tclass: str
    perms: frozenset[str]
    rule: str  # the rule as written in the linked policy (source and target may be attributes)
    ruletype: str
    conditional: bool  # under a boolean: counted for what a site must not do, not for what it needs
    rule_source: str = ""  # the source and target as the rule writes them (a type or an attribute)
    rule_target: str = ""


class PolicyIndex:
    """A linked policy with per-source rule sets, queried once each."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self._access: dict[str, Access] = {}
        self._expansions: dict[str, frozenset[str]] = {}
        self._entry_rules: list[tuple[Any, Any]] = []
        self._permissive: frozenset[str] | None = None  # (source, target) of every "file entrypoint" allow rule

    def has_type(self, name: str) -> bool:
        key = "type:" + name
        if key not in self._expansions:
            try:
                self.policy.lookup_type(name)
            except Exception:
                self._expansions[key] = frozenset()
            else:
                self._expansions[key] = frozenset({name})
        return bool(self._expansions[key])

    def canonical(self, name: str) -> str | None:
        """The type's own name when ``name`` is an alias (Debian: mysqld_var_run_t -> mysqld_runtime_t), None
        when the policy has no such type; rules are indexed by the own name."""
        try:
            return str(self.policy.lookup_type(name))
        except Exception:
            return None

    def expand(self, name: Any) -> frozenset[str]:
        key = str(name)
        if key not in self._expansions:
            members = name.expand() if hasattr(name, "expand") else [name]
            self._expansions[key] = frozenset(str(t) for t in members)
        return self._expansions[key]

    def entrypoints(self, domain: str) -> frozenset[str]:
        """Types whose files may start ``domain`` (file entrypoint), from the rules the preload pass kept."""
        key = "entry:" + domain
        if key not in self._expansions:
            self._expansions[key] = frozenset(
                t for source, target in self._entry_rules if domain in self.expand(source) for t in self.expand(target)
            )
        return self._expansions[key]

    def bounds(self, parent: str, child: str) -> bool:
        """``typebounds parent child;``: the kernel lets a NoNewPrivileges process enter a bounded child."""
        key = "bounds"
        if key not in self._expansions:
            self._expansions[key] = frozenset(f"{b.parent} {b.child}" for b in self.policy.bounds())
        return f"{parent} {child}" in self._expansions[key]

    def permissive(self, name: str) -> bool:
        if self._permissive is None:  # one walk over the types: a lookup per type is slow on a full policy
            self._permissive = frozenset(str(t) for t in self.policy.types() if t.ispermissive)
        return name in self._permissive

    def type_attributes(self, name: str) -> frozenset[str]:
        try:
            return frozenset(str(a) for a in self.policy.lookup_type(name).attributes())
        except Exception:
            return frozenset()

    def role_types(self, role: str) -> frozenset[str]:
        key = "role:" + role
        if key not in self._expansions:
            try:
                types = self.policy.lookup_role(role).types()
            except Exception:
                types = []
            self._expansions[key] = frozenset(str(t) for t in types)
        return self._expansions[key]

    def attribute_members(self, attribute: str) -> frozenset[str]:
        try:
            attr = self.policy.lookup_typeattr(attribute)
        except Exception:
            return frozenset()
        return self.expand(attr)

    def access(self, source: str) -> Access:
        if source not in self._access:
            self.preload([source])
        return self._access[source]

    def preload(self, sources: Iterable[str]) -> None:
        """Index the rules of all ``sources`` in one pass over the policy.

        A TERuleQuery per source scans every rule of the policy each time (seconds per site on a
        full policy); one scan that sorts each rule to the sources its source attribute contains
        costs about one query, whatever the number of sites. The matching is the same: a rule applies
        to a type when its source is that type or an attribute containing it.
        """
        wanted = {s for s in sources if s not in self._access}
        if not wanted:
            return
        grants: dict[str, dict[str, list[Grant]]] = {s: defaultdict(list) for s in wanted}
        keep_entry = not self._entry_rules
        for rule in self.policy.terules():
            ruletype = str(rule.ruletype)
            if ruletype not in GRANTING_RULES:
                continue
            if keep_entry and ruletype == "allow" and str(rule.tclass) == "file" and "entrypoint" in rule.perms:
                self._entry_rules.append((rule.source, rule.target))
            sources_hit = self.expand(rule.source) & wanted
            if not sources_hit:
                continue
            allow = ruletype.startswith("allow")
            perms = frozenset(str(p) for p in rule.perms) if allow else frozenset()
            text, tclass, conditional = str(rule), str(rule.tclass), _is_conditional(rule)
            rule_source, rule_target = str(rule.source), str(rule.target)
            targets = set(self.expand(rule.target))
            if not allow:
                targets.add(str(rule.default))
            for source in sources_hit:
                for target in targets:
                    grants[source][target].append(
                        Grant(target, tclass, perms, text, ruletype, conditional, rule_source, rule_target)
                    )
        for source in wanted:
            self._access[source] = Access(source, dict(grants[source]))


def _is_conditional(rule: Any) -> bool:
    try:
        return rule.conditional is not None
    except Exception:  # setools raises RuleNotConditional on unconditional rules
        return False


@dataclass(frozen=True)
class Access:
    source: str
    by_target: dict[str, list[Grant]]

    def combined(self, target: str, tclass: str) -> frozenset[str]:
        """Every permission any allow rule gives on ``target``:``tclass``, under any boolean."""
        out: set[str] = set()
        for grant in self.by_target.get(target, ()):
            if grant.tclass == tclass and grant.ruletype == "allow":
                out |= grant.perms
        return frozenset(out)

    def on(self, types: Iterable[str]) -> list[Grant]:
        return [g for t in types for g in self.by_target.get(t, ())]

    def perms(self, target: str, tclass: str, unconditional: bool = True) -> frozenset[str]:
        out: set[str] = set()
        for grant in self.by_target.get(target, ()):
            if grant.tclass == tclass and grant.ruletype == "allow" and not (unconditional and grant.conditional):
                out |= grant.perms
        return frozenset(out)

    def grants(self, target: str, tclass: str, perms: frozenset[str]) -> list[Grant]:
        """The allow rules that give any of ``perms`` on ``target``:``tclass``."""
        return [
            g
            for g in self.by_target.get(target, ())
            if g.tclass == tclass and g.ruletype == "allow" and g.perms & perms
        ]
