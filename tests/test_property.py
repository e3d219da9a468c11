"""A property test over the definition space, m4 words included (issue 13).

Hypothesis (derandomized: the same examples every run) generates definitions whose DNS labels and
path components are drawn largely from m4 builtins and refpolicy macro names. Every one is
validated: accepted, or refused with a DefinitionError (nothing else may escape). Every accepted one
is rendered; its .fc and .if go through m4 with the target's support macros exactly as the devel
Makefile runs them, and the .fc must come out as the intended file contexts, the .if as the same
text as for a harmless name; a sample of .te files likewise. At least 1,000 accepted definitions
are compiled (-j2, in batches) and the file contexts read back from each .pp must be the intended
ones; one batch of up to 200 non-colliding ones is linked and proven with the verify engine.

SITEPOLICY_PROPERTY_EXAMPLES scales the run (default 10,000); the timings print with -s.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import shared_target

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sitepolicy.definition.site import Site, check_distinct, site_from_mapping  # noqa: E402
from sitepolicy.definition.yamlload import YamlRefused, load  # noqa: E402
from sitepolicy.errors import DefinitionError, SitepolicyError  # noqa: E402
from sitepolicy.m4 import makefile_params, support_files  # noqa: E402
from sitepolicy.package import filecontexts  # noqa: E402
from sitepolicy.render import render_policy  # noqa: E402
from sitepolicy.tools import run  # noqa: E402

EXAMPLES = int(os.environ.get("SITEPOLICY_PROPERTY_EXAMPLES", "10000"))
COMPILE_AT_LEAST = min(1000, EXAMPLES // 10)
LINK_AT_MOST = 200
TE_SAMPLE = 600  # .te files through m4 (12 ms each); the .te holds only sitepolicy_ identifiers

M4_BUILTINS = """__file__ __gnu__ __line__ __program__ __unix__ builtin changecom changequote changeword debugfile
    debugmode decr define defn divert divnum dnl dumpdef errprint esyscmd eval format ifdef ifelse include incr
    index indir len m4exit m4wrap maketemp mkstemp patsubst popdef pushdef regexp shift sinclude substr syscmd
    sysval traceoff traceon translit undefine undivert unix windows os2""".split()
REFPOLICY_MACROS = """gen_context gen_require policy_module shiftn ifndef refpolwarn refpolerr optional_policy
    tunable_policy interface template gen_tunable gen_bool gen_user gen_cats gen_sens gen_levels init_systemd
    distro_redhat distro_debian enable_mcs enable_mls mls_num_sens mcs_num_cats __endline__ dollarsstar
    files_type can_exec allow require type attribute files_read_etc_files apache_search_sys_content
    init_daemon_domain domain_entry_file corenet_tcp_connect_http_port manage_files_pattern""".split()
WORDS = M4_BUILTINS + REFPOLICY_MACROS
DNS_WORDS = [w for w in WORDS if re.fullmatch(r"[a-z0-9]+", w)]
ACCOUNTS = ["root", "sys", "backup", "docker", "_apt", "systemd-x", "nginx", "www-data", "dnl", "divnum", "eval"]
TREES = [
    "/srv/www",
    "/srv",
    "/var/www",
    "/var/www/html",
    "/var/www/cgi-bin",
    "/opt",
    "/opt/rh",
    "/data",
    "/web/sites",
    "/home/alice",
    "/etc",
    "/srv/www/dnl",
]
PHP_FPM = [
    None,
    None,
    None,
    "/usr/sbin/php-fpm",
    "/opt/remi/php82/root/usr/sbin/php-fpm",
    "/bin/sh",
    "/srv/www/x/php-fpm",
]

# Leaves are drawn from pools made once with a fixed seed: hypothesis then only chooses among them,
# which keeps each example to a few milliseconds.
_rng = random.Random(13)
_LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
_COMPONENT_CHARS = _LABEL_CHARS + "ABCXYZ_.+-"
RANDOM_LABELS = [
    "".join(_rng.choice(_LABEL_CHARS) for _ in range(_rng.randint(1, 8))) + _rng.choice(["", "-x", "-0"])
    for _ in range(1000)
]
RANDOM_COMPONENTS = [
    _rng.choice("abcdefghijklmnopqrstuvwxyzABC0123456789_")
    + "".join(_rng.choice(_COMPONENT_CHARS) for _ in range(_rng.randint(0, 9)))
    for _ in range(1000)
]
LABELS = [*DNS_WORDS, *(f"{a}-{b}" for a in DNS_WORDS[:12] for b in DNS_WORDS[-12:]), *RANDOM_LABELS]
BAD_LABELS = ["x-", "-x", "a_b", "DNL", "x" * 64, "dnl`", "gen_context"]
COMPONENTS = [
    *WORDS,
    *(f"{a}.{b}" for a in WORDS[:15] for b in WORDS[-15:]),
    *(f"{a}-{b}" for a in WORDS[20:35] for b in WORDS[:15]),
    *RANDOM_COMPONENTS,
]
BAD_COMPONENTS = ["..", ".hidden", "a`b", "a'b", "a(b", "a b", "a#b", "a$b", "-x", "", "dnl\n"]
ACCOUNT_POOL = [f"sp_{_rng.getrandbits(40):x}" for _ in range(3000)]

label = st.sampled_from(LABELS * 3 + BAD_LABELS)
site_name = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(label, min_size=1, max_size=3),
    st.sampled_from(["com", "org", "example", *DNS_WORDS, *LABELS]),
)
component = st.sampled_from(COMPONENTS * 6 + BAD_COMPONENTS)
relative = st.lists(component, min_size=1, max_size=2).map("/".join)
GOOD_TREES = ["/srv/www", "/var/www", "/opt/sites", "/data/www", "/web/sites", "/srv/www/dnl", "/var/www/html"]
docroot = st.builds(
    lambda tree, parts: "/".join([tree, *parts]),
    st.sampled_from(GOOD_TREES * 4 + TREES),
    st.lists(component, min_size=1, max_size=3),
)
account = st.sampled_from(ACCOUNT_POOL * 6 + ACCOUNTS)
definition = st.fixed_dictionaries(
    {"site": site_name, "docroot": docroot, "user": account},
    optional={
        "group": account,
        "writable": st.lists(relative, max_size=3),
        "network": st.lists(
            st.sampled_from(["database", "smtp", "http", "redis", "memcache", "database", "http", "ssh"]), max_size=3
        ),
        "php_fpm": st.sampled_from(PHP_FPM),
        "max_children": st.sampled_from([*range(1, 65), 0, 600, "010", "1:30", "5"]),
        "version": st.sampled_from(["1.0", "1.0", "1.10", "2.3.4", "010", "1:30", "2", "1.2.3.4.5", "1.0-rc1"]),
    },
)


def as_yaml(data: dict[str, object]) -> str:
    """The definition as a person writes it: plain scalars, flow lists (so 1.10 and 010 are plain)."""
    lines = []
    for key, value in data.items():
        if isinstance(value, list):
            lines.append(f"{key}: [{', '.join(str(v) for v in value)}]")
        elif value is None:
            lines.append(f"{key}:")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


@dataclass
class Space:
    examples: int = 0
    refused: int = 0
    repeated: int = 0
    accepted: list[Site] = field(default_factory=list)
    rendered: list[dict[str, str]] = field(default_factory=list)  # per accepted site: ext -> text
    seconds: dict[str, float] = field(default_factory=dict)


def explore(target) -> Space:
    space = Space()
    seen: set[str] = set()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(definition, st.booleans())
    def one(data: dict[str, object], through_yaml: bool) -> None:
        space.examples += 1
        try:
            parsed = load(as_yaml(data)) if through_yaml else data
            if not isinstance(parsed, dict):
                raise DefinitionError("<memory>", "(file)", type(parsed).__name__, "a mapping")
            site = site_from_mapping(parsed, Path("<memory>"))
        except (DefinitionError, YamlRefused, yaml.YAMLError):
            space.refused += 1
            return
        files = render_policy(site, target).files  # every accepted definition renders
        space.accepted.append(site)
        space.rendered.append({name.rsplit(".", 1)[1]: text for name, text in files.items()})
        if site.names.module in seen:  # the same name again, other fields: not compiled twice
            space.repeated += 1
        seen.add(site.names.module)

    start = time.monotonic()
    one()
    space.seconds["validate+render"] = time.monotonic() - start
    return space


@pytest.fixture(scope="module")
def space(target) -> Space:
    return explore(target)


MARK = "SEGMENTMARK\n"


def m4_segments(headers_dir: Path, directory: Path, texts: Sequence[str], synclines: bool = False) -> list[str]:
    """m4 over the support macros and each text in turn (files, as the Makefile passes them); one output each."""
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / "mark.m4"
    marker.write_text(MARK)
    args: list[str | Path] = [marker]
    for i, text in enumerate(texts):
        path = directory / f"{i}.in"
        path.write_text(text)
        args += [path, marker]
    argv = ["m4", *makefile_params(headers_dir), *(["-s"] if synclines else []), *support_files(headers_dir), *args]
    out = run(argv, timeout=300)
    parts = out.split(MARK)
    assert len(parts) == len(texts) + 2, "an m4 segment swallowed its end marker"
    return parts[1:-1]


def check_fc_and_if(headers_dir: Path, space: Space, tmp_path: Path, target) -> None:
    pairs = list(zip(space.accepted, space.rendered))
    sites = space.accepted
    for start in range(0, len(pairs), 2000):
        chunk = pairs[start : start + 2000]
        outputs = m4_segments(headers_dir, tmp_path / f"fc{start}", [files["fc"] for _, files in chunk])
        for (site, _), out in zip(chunk, outputs):
            assert filecontexts.parse(out, site.name) == filecontexts.intended(site), site
    twin = twin_site(sites[0])
    twin_if = m4_segments(headers_dir, tmp_path / "if-twin", [render(twin, "if", target)])[0]
    distinct = list({site.names.module: (site, files) for site, files in pairs}.values())  # each .if defines macros
    for start in range(0, len(distinct), 2000):
        chunk = distinct[start : start + 2000]
        outputs = m4_segments(headers_dir, tmp_path / f"if{start}", [files["if"] for _, files in chunk])
        for (site, _), out in zip(chunk, outputs):
            assert untwin(out, site, twin) == twin_if, site


TWIN_NAME = "twin.example.com"


def twin_site(site: Site) -> Site:
    return dataclasses.replace(site, name=TWIN_NAME)


def render(site: Site, ext: str, target) -> str:
    files = render_policy(site, target).files
    return files[f"{site.names.module}.{ext}"]


def untwin(out: str, site: Site, twin: Site) -> str:
    """``out`` with the site's names replaced by the twin's: equal to the twin's output iff m4 treated them alike."""
    return out.replace(site.names.stem, twin.names.stem).replace(f"`{site.name}'", f"`{twin.name}'")


def test_every_definition_is_accepted_or_refused_and_every_accepted_one_renders(space):
    assert space.examples >= EXAMPLES
    assert len(space.accepted) >= COMPILE_AT_LEAST
    print(
        f"\n{space.examples} examples: {space.refused} refused, {len(space.accepted)} accepted "
        f"({space.repeated} repeating a site name): {space.seconds}"
    )


@pytest.mark.parametrize("name", ["host", "el9", "fedora"])
def test_accepted_fc_and_if_through_the_targets_m4(name, space, headers, target, tmp_path):
    directory = headers.directory if name == "host" else shared_target(name) / "devel"
    start = time.monotonic()
    check_fc_and_if(directory, space, tmp_path, target)
    print(f"\nm4 ({name}): {len(space.accepted)} .fc and .if in {time.monotonic() - start:.1f} s")


def test_sampled_te_through_m4_equals_a_harmless_names(space, headers, target, tmp_path):
    start = time.monotonic()
    pairs = list({site.names.module: (site, files) for site, files in zip(space.accepted, space.rendered)}.values())
    sample = pairs[:: max(1, len(pairs) // TE_SAMPLE)][:TE_SAMPLE]
    twins: dict[tuple[object, ...], str] = {}
    for site, _ in sample:
        shape = (site.network, site.docroot.parts[1], site.version)
        if shape not in twins:
            twins[shape] = m4_segments(
                headers.directory, tmp_path / f"twin{len(twins)}", [render(twin_site(site), "te", target)]
            )[0]
    outputs = m4_segments(headers.directory, tmp_path / "te", [files["te"] for _, files in sample])
    for (site, _), out in zip(sample, outputs):
        shape = (site.network, site.docroot.parts[1], site.version)
        assert untwin(out, site, twin_site(site)) == twins[shape], site
    print(f"\nm4: {len(sample)} .te in {time.monotonic() - start:.1f} s")


def compilable(space: Space) -> list[tuple[Site, dict[str, str]]]:
    """Distinct accepted sites (by module name), to compile together."""
    first: dict[str, tuple[Site, dict[str, str]]] = {}
    for site, files in zip(space.accepted, space.rendered):
        first.setdefault(site.names.module, (site, files))
    return list(first.values())[: max(COMPILE_AT_LEAST, 1)]


@pytest.fixture(scope="module")
def compiled(space, headers, target, tmp_path_factory) -> tuple[list[Site], Path]:
    """One directory, one make -j2: the Makefile builds tmp/all_interfaces.conf once for all of them.

    The sites' .if files stay out: the Makefile would define every .if of the directory while
    compiling each .te (in production each site builds alone), and an .if adds nothing to its own
    module's .pp. Every accepted .if went through m4 above; the real build compiles it with its .te.
    """
    pairs = compilable(space)
    directory = tmp_path_factory.mktemp("compiled")
    for site, files in pairs:
        for ext in ("te", "fc"):
            (directory / f"{site.names.module}.{ext}").write_text(files[ext])
    start = time.monotonic()
    argv = ["make", "-k", "-j2", "-f", headers.directory / "Makefile", f"HEADERDIR={headers.directory / 'include'}"]
    run([*argv, *(f"{s.names.module}.pp" for s, _ in pairs)], cwd=directory, timeout=1800)
    print(f"\ncompiled {len(pairs)} modules in {time.monotonic() - start:.1f} s")
    return [site for site, _ in pairs], directory


def test_compiled_file_contexts_equal_the_intended_ones(compiled):
    sites, out = compiled
    assert len(sites) >= COMPILE_AT_LEAST
    start = time.monotonic()
    for site in sites:
        pp = out / f"{site.names.module}.pp"
        found = filecontexts.parse(filecontexts.compiled_text(pp.read_bytes()), pp.name)
        assert found == filecontexts.intended(site), site
    print(f"\nread back {len(sites)} modules in {time.monotonic() - start:.1f} s")


def test_a_batch_of_accepted_sites_links_and_is_proven(compiled, target, tmp_path):
    from sitepolicy.verify import verify_modules
    from sitepolicy.verify.modules import SiteModule
    from sitepolicy.verify.report import render_text

    if not (Path("/var/lib/selinux") / target.store / "active/policy.kern").is_file():
        pytest.skip(f"no {target.store} policy store on this host to link against")
    sites, out = compiled
    chosen: list[Site] = []
    for site in sites:
        candidate = [*chosen, dataclasses.replace(site, source=Path(f"{site.name}.yaml"))]
        try:
            check_distinct(candidate)
        except SitepolicyError:
            continue
        chosen = candidate
        if len(chosen) == LINK_AT_MOST:
            break
    start = time.monotonic()
    modules = [SiteModule(s, out / f"{s.names.module}.pp") for s in chosen]
    result = verify_modules(modules, target.store, tmp_path / "verify")
    print(f"\nlinked and proved {len(chosen)} sites in {time.monotonic() - start:.1f} s")
    assert result.report.ok, "\n".join(render_text(result.report).splitlines()[-60:])
