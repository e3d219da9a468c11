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


class PolicyIndex:
    """A linked policy with per-source rule sets, queried once each."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self._access: dict[str, Access] = {}
        self._expansions: dict[str, frozenset[str]] = {}

    def has_type(self, name: str) -> bool:
        try:
            self.policy.lookup_type(name)
        except Exception:
            return False
        return True

    def expand(self, name: Any) -> frozenset[str]:
        key = str(name)
        if key not in self._expansions:
            members = name.expand() if hasattr(name, "expand") else [name]
            self._expansions[key] = frozenset(str(t) for t in members)
        return self._expansions[key]

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
            import setools

            grants: dict[str, list[Grant]] = defaultdict(list)
            query = setools.TERuleQuery(self.policy, source=source, ruletype=GRANTING_RULES)
            for rule in query.results():
                ruletype = str(rule.ruletype)
                perms = frozenset(str(p) for p in rule.perms) if ruletype.startswith("allow") else frozenset()
                text = str(rule)
                conditional = _is_conditional(rule)
                targets = set(self.expand(rule.target))
                if not ruletype.startswith("allow"):
                    targets.add(str(rule.default))
                for target in targets:
                    grants[target].append(Grant(target, str(rule.tclass), perms, text, ruletype, conditional))
            self._access[source] = Access(source, dict(grants))
        return self._access[source]


def _is_conditional(rule: Any) -> bool:
    try:
        return rule.conditional is not None
    except Exception:  # setools raises RuleNotConditional on unconditional rules
        return False


@dataclass(frozen=True)
class Access:
    source: str
    by_target: dict[str, list[Grant]]

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
