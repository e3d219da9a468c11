from __future__ import annotations

import itertools

import pytest

from sitepolicy.definition.names import SiteNames, selinux_identifier, site_name_from_identifier
from sitepolicy.definition.site import _check_dns_name


def test_seed_collision_pair_gets_distinct_names():
    a, b = SiteNames("a-b.example.com"), SiteNames("a.b-example.com")
    assert a.module != b.module
    assert set(a.all_names().values()).isdisjoint(b.all_names().values())


def _valid(name: str) -> bool:
    try:
        _check_dns_name("t.yaml", name)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


def test_encoding_is_injective_over_every_short_name():
    # Every valid name of up to 6 characters over an alphabet that exercises '.', '-' and runs of them.
    seen: dict[str, str] = {}
    for length in range(3, 7):
        for chars in itertools.product("a-.", repeat=length):
            name = "".join(chars)
            if not _valid(name):
                continue
            ident = selinux_identifier(name)
            assert ident not in seen, (name, seen.get(ident))
            seen[ident] = name
            assert site_name_from_identifier(ident) == name
    assert len(seen) > 20


@pytest.mark.parametrize("name", ["selinux.rskeens.com", "9lives.example.org", "xn--bcher-kva.example"])
def test_identifiers_start_with_a_letter_and_use_selinux_characters(name):
    names = SiteNames(name)
    for ident in [names.module, *names.types.values()]:
        assert ident[0].isalpha()
        assert all(c.isalnum() or c == "_" for c in ident)


def test_example_names():
    names = SiteNames("selinux.rskeens.com")
    assert names.module == "sitepolicy_selinux_rskeens_com"
    assert names.domain == "sitepolicy_selinux_rskeens_com_t"
    assert names.type("content") == "sitepolicy_selinux_rskeens_com_content_t"
    assert names.selinux_package == "sitepolicy-selinux.rskeens.com-selinux"
    assert names.php_fpm_package == "sitepolicy-selinux.rskeens.com-php-fpm"
    assert names.unit == "sitepolicy-selinux.rskeens.com-php-fpm.service"
