"""A site whose names the base policy (or another module) already uses is refused before anything is built."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_tools import compile_module

from sitepolicy.definition.base_policy import base_policy_names, check_against_base
from sitepolicy.definition.site import site_from_mapping
from sitepolicy.errors import DefinitionError
from sitepolicy.verify.policyroot import link_policy

CLASH = {"site": "clash.example.com", "docroot": "/srv/www/clash.example.com", "user": "clash"}


@pytest.fixture(scope="module")
def store_with_a_clashing_type(tmp_path_factory, headers, target) -> Path:
    """A private copy of this host's store plus a module (not sitepolicy's) declaring a site's type name."""
    work = tmp_path_factory.mktemp("clash")
    src = work / "src"
    src.mkdir()
    (src / "clashing.te").write_text(
        "policy_module(clashing, 1.0)\n"
        "type sitepolicy_clash_example_com_content_t;\n"
        "files_type(sitepolicy_clash_example_com_content_t)\n"
    )
    return link_policy(work / "root", target.store, [compile_module(src, headers, "clashing")]).root


def test_type_already_in_the_policy_is_refused(store_with_a_clashing_type, target):
    names = base_policy_names(target.store, store_with_a_clashing_type)
    assert names is not None and "clashing" in names.modules
    site = site_from_mapping(CLASH, Path("sites.d/clash.example.com.yaml"))
    with pytest.raises(DefinitionError) as info:
        check_against_base([site], names)
    assert info.value.field == "site" and info.value.value == "clash.example.com"
    assert "sitepolicy_clash_example_com_content_t" in info.value.allowed
    assert "sites.d/clash.example.com.yaml" in str(info.value)


def test_other_sites_and_the_host_store_pass(store_with_a_clashing_type, target, example_sites):
    check_against_base(example_sites, base_policy_names(target.store, store_with_a_clashing_type))
    check_against_base(example_sites, base_policy_names(target.store))
