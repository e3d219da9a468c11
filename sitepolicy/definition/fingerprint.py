"""Fingerprints of a site definition, recorded in its packages so a repository can tell sites apart.

- identity: what makes a site *that* site: its name, docroot and pool account. Two definitions with
  the same name but another identity are different sites claiming the same package and module names.
- definition: every field of the validated model. Two builds of the same version-release with a
  different definition are different packages under one name.

Both are computed from the validated, frozen Site (never from the YAML text), so comments or key order
in the file change neither.
"""

from __future__ import annotations

import hashlib
import json

from .site import Site

IDENTITY_LENGTH = 16  # hex digits in the package's Provides: sitepolicy-site(<site>) = <identity>


def _digest(values: dict[str, object]) -> str:
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def identity(site: Site) -> str:
    return _digest({"site": site.name, "docroot": str(site.docroot), "user": site.user, "group": site.group})[
        :IDENTITY_LENGTH
    ]


def definition(site: Site) -> str:
    return _digest(
        {
            "site": site.name,
            "docroot": str(site.docroot),
            "user": site.user,
            "group": site.group,
            "writable": [str(p) for p in site.writable],
            "network": sorted(n.value for n in site.network),
            "php_fpm": None if site.php_fpm is None else str(site.php_fpm),
            "max_children": site.max_children,
            "version": site.version,
            # only when set: definitions without it keep the fingerprint they had before the field existed
            **({"web_server": site.web_server} if site.web_server is not None else {}),
            **({"mail": site.mail} if site.mail is not None else {}),
            **({"mode": site.mode} if site.permissive else {}),
        }
    )
