"""Every validation rule refuses with the file, the field, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from sitepolicy.definition.site import Network, check_distinct, load_site, load_sites, site_from_mapping
from sitepolicy.errors import DefinitionError

GOOD = {"site": "shop.example.com", "docroot": "/srv/www/shop.example.com", "user": "shop"}


def refused(data: dict, file: str = "shop.example.com.yaml") -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        site_from_mapping(data, Path("sites.d") / file)
    return info.value


def test_minimal_definition_gets_defaults():
    site = site_from_mapping(GOOD, Path("sites.d/shop.example.com.yaml"))
    assert site.group == "shop"
    assert site.writable == ()
    assert site.network == frozenset()
    assert site.max_children == 5
    assert site.mode == "enforcing" and not site.permissive
    assert site.socket == PurePosixPath("/run/sitepolicy-shop.example.com/php-fpm.sock")


def test_examples_load(example_sites):
    assert {s.name for s in example_sites} == {"selinux.rskeens.com", "private.rskeens.com"}
    public = next(s for s in example_sites if s.name == "selinux.rskeens.com")
    assert public.network == frozenset({Network.DATABASE})
    assert public.writable_dirs == (
        PurePosixPath("/srv/www/selinux.rskeens.com/uploads"),
        PurePosixPath("/srv/www/selinux.rskeens.com/cache"),
    )


@pytest.mark.parametrize(
    "name",
    [
        "Shop.example.com",  # uppercase
        "shop_example.com",  # underscore
        "-shop.example.com",  # leading hyphen
        "shop-.example.com",  # trailing hyphen
        "localhost",  # one label
        "shop..example.com",  # empty label
        "shop.example.123",  # numeric top-level label
        "a" * 64 + ".example.com",  # label too long
        "shop.example.com\nallow",  # newline injection
        "shop.example.com; rm -rf /",
        "shop.example.com/../x",
        "",
    ],
)
def test_site_name_must_be_a_dns_name(name):
    err = refused({**GOOD, "site": name})
    assert err.field == "site"
    assert "DNS name" in err.allowed
    assert "sites.d/shop.example.com.yaml" in str(err)
    assert repr(name) in str(err)


def test_file_name_must_match_site():
    err = refused(GOOD, file="other.example.com.yaml")
    assert err.field == "site" and "shop.example.com.yaml" in err.allowed


@pytest.mark.parametrize(
    "docroot",
    [
        "srv/www/shop",  # relative
        "/srv/www/../etc",  # ..
        "/srv//www/shop",  # not normalised
        "/srv/www/./shop",
        "/srv/www/shop/",  # trailing slash
        "/srv/www/sh op",  # space
        "/srv/www/$(id)",  # shell
        "/srv/www/shop\n/etc",  # newline
        "/srv/www/a(/.*)?",  # regular expression
        "/srv/www/.hidden",
    ],
)
def test_docroot_must_be_an_absolute_normalised_safe_path(docroot):
    err = refused({**GOOD, "docroot": docroot})
    assert err.field == "docroot" and "normalised" in err.allowed


@pytest.mark.parametrize("docroot", ["/etc/shop", "/usr/share/shop", "/var/lib/shop", "/srv", "/var/www"])
def test_docroot_must_be_below_a_content_tree(docroot):
    err = refused({**GOOD, "docroot": docroot})
    assert err.field == "docroot" and "/srv" in err.allowed


@pytest.mark.parametrize("writable", [["../private"], ["/abs"], ["a/../b"], ["up loads"], ["x/"], ["."]])
def test_writable_dirs_must_be_relative_normalised_paths(writable):
    err = refused({**GOOD, "writable": writable})
    assert err.field == "writable[0]" and "relative" in err.allowed


def test_writable_must_be_a_list_without_repeats():
    assert refused({**GOOD, "writable": "uploads"}).field == "writable"
    assert refused({**GOOD, "writable": ["uploads", "uploads"]}).field == "writable"


@pytest.mark.parametrize("user", ["root", "nginx", "apache", "www-data", "Shop", "9shop", "a" * 32, "x;id", 1000])
def test_pool_user_must_be_a_site_account(user):
    err = refused({**GOOD, "user": user})
    assert err.field == "user" and "Unix name" in err.allowed


def test_group_checked_like_user():
    assert refused({**GOOD, "group": "wheel"}).field == "group"


def test_network_needs_come_from_the_named_set():
    err = refused({**GOOD, "network": ["database", "ssh"]})
    assert err.field == "network[1]" and err.value == "ssh"
    assert "database, smtp, http, redis, memcache" in err.allowed


def test_mode_is_enforcing_or_permissive_and_a_trial_changes_the_definition_fingerprint():
    from sitepolicy.definition.fingerprint import definition

    trial = site_from_mapping({**GOOD, "mode": "permissive"}, Path("sites.d/shop.example.com.yaml"))
    assert trial.permissive
    plain = site_from_mapping(GOOD, Path("sites.d/shop.example.com.yaml"))
    explicit = site_from_mapping({**GOOD, "mode": "enforcing"}, Path("sites.d/shop.example.com.yaml"))
    assert definition(plain) == definition(explicit) != definition(trial)
    for value in ("Permissive", "disabled", True, ["permissive"]):
        err = refused({**GOOD, "mode": value})
        assert err.field == "mode" and "enforcing" in err.allowed and "NOT isolated" in err.allowed


def test_unknown_field_is_refused():
    err = refused({**GOOD, "selinux_rules": "allow x y:file *;"})
    assert err.field == "selinux_rules" and "known fields" in err.allowed


@pytest.mark.parametrize(
    ("field", "value"), [("max_children", 0), ("max_children", "5"), ("max_children", True), ("version", "1.0-rc1")]
)
def test_wrong_types_and_ranges(field, value):
    assert refused({**GOOD, field: value}).field == field


def test_php_fpm_path_is_checked():
    assert refused({**GOOD, "php_fpm": "/usr/sbin/php-fpm --evil"}).field == "php_fpm"


def test_missing_required_field():
    err = refused({"site": "shop.example.com", "user": "shop"})
    assert err.field == "docroot" and "required" in err.allowed


@pytest.mark.parametrize("text", ["[1, 2]", "site: [unclosed", "\xff\xfe"])
def test_file_must_be_a_yaml_mapping(tmp_path, text):
    path = tmp_path / "shop.example.com.yaml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DefinitionError) as info:
        load_site(path)
    assert info.value.field == "(file)" and str(path) in str(info.value)


def _write(tmp_path: Path, **definitions: dict) -> Path:
    for name, data in definitions.items():
        lines = [f"{k}: {v!r}" if not isinstance(v, list) else f"{k}: {v}" for k, v in data.items()]
        (tmp_path / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    return tmp_path


def _site(name: str, **extra) -> dict:
    user = name.split(".")[0].replace("-", "_")
    return {"site": name, "docroot": f"/srv/www/{name}", "user": user, **extra}


@pytest.mark.parametrize(
    ("second", "field"),
    [
        ({"docroot": "/srv/www/a.example.com"}, "docroot"),  # same docroot
        ({"docroot": "/srv/www/a.example.com/sub"}, "docroot"),  # inside the other's docroot
        ({"user": "a"}, "user"),  # same pool user
        ({"group": "a"}, "group"),  # pool group is the other's user
    ],
)
def test_two_sites_may_not_share_a_path_or_account(tmp_path, second, field):
    d = _write(tmp_path, **{"a.example.com": _site("a.example.com"), "b.example.com": _site("b.example.com", **second)})
    with pytest.raises(DefinitionError) as info:
        load_sites(d)
    assert info.value.field == field
    assert "not shared with site a.example.com" in info.value.allowed
    assert "b.example.com.yaml" in info.value.file


def test_two_sites_may_not_share_a_package_name(tmp_path):
    # x.com builds the binary package sitepolicy-x.com-selinux, which is x.com-selinux's source package.
    d = _write(
        tmp_path,
        **{"x.com": _site("x.com"), "x.com-selinux": {**_site("x.com-selinux"), "user": "xsel"}},
    )
    with pytest.raises(DefinitionError) as info:
        load_sites(d)
    assert "sitepolicy-x.com-selinux" in info.value.allowed


def test_distinct_sites_pass(example_sites):
    check_distinct(example_sites)


@pytest.mark.parametrize("clash", ["above", "below"])
def test_a_clash_among_hundreds_of_sites_is_found_whichever_comes_first(tmp_path, clash):
    """check_distinct indexes instead of comparing every pair; it must still find an overlap either way round."""
    sites = {f"s{i:03d}.example.com": _site(f"s{i:03d}.example.com") for i in range(300)}
    inner = "/srv/www/s000.example.com/shop"
    if clash == "above":  # the last site's docroot holds the first one's
        sites["s000.example.com"]["docroot"] = inner
        sites["s299.example.com"]["docroot"] = "/srv/www/s000.example.com"
    else:  # the last site's docroot is inside the first one's
        sites["s299.example.com"]["docroot"] = inner
    with pytest.raises(DefinitionError) as info:
        load_sites(_write(tmp_path, **sites))
    assert info.value.field == "docroot" and "s299.example.com.yaml" in info.value.file
    assert "not shared with site s000.example.com" in info.value.allowed
