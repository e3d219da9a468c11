"""The AVC matching and the verdicts, on recorded audit lines (no guest needed)."""

from __future__ import annotations

from sitepolicy.e2e.avc import AvcExpectation, merge, parse_audit_log, parse_marks
from sitepolicy.e2e.report import evaluate

# Recorded in the enforcing guest (hand experiment, 2026-11-26); the second is permissive.
SEARCH = (
    'type=AVC msg=audit(1795660400.123:310): avc:  denied  { search } for  pid=412 comm="php-fpm8.2" '
    'name="private.rskeens.com" dev="vda" ino=131 scontext=system_u:system_r:sitepolicy_selinux_rskeens_com_t:s0 '
    "tcontext=system_u:object_r:sitepolicy_private_rskeens_com_content_t:s0 tclass=dir permissive=0"
)
PERMISSIVE = (
    'type=AVC msg=audit(1795660177.601:77): avc:  denied  { read write } for  pid=405 comm="php-fpm8.2" '
    'path="/tmp/.ZendSem.OuDAyj" dev="vda" ino=19501 scontext=system_u:system_r:e2etest_php_t:s0 '
    "tcontext=system_u:object_r:tmp_t:s0 tclass=file permissive=1"
)
OTHER = "type=SYSCALL msg=audit(1795660400.123:310): arch=c000003e syscall=257 success=no exit=-13"


def test_parse_fields() -> None:
    avcs = parse_audit_log("\n".join([OTHER, SEARCH, PERMISSIVE]))
    assert len(avcs) == 2
    a, p = avcs
    assert (a.source_type, a.target_type, a.tclass, a.permissions) == (
        "sitepolicy_selinux_rskeens_com_t",
        "sitepolicy_private_rskeens_com_content_t",
        "dir",
        frozenset({"search"}),
    )
    assert a.denied and not a.permissive and a.serial == 310 and a.timestamp == 1795660400.123
    assert p.permissive and p.permissions == frozenset({"read", "write"})


def test_expectation_is_exact() -> None:
    (a,) = parse_audit_log(SEARCH)
    src, tgt = "sitepolicy_selinux_rskeens_com_t", "sitepolicy_private_rskeens_com_content_t"
    assert AvcExpectation(src, tgt, "dir", "search").matches(a)
    assert not AvcExpectation(src, tgt, "file", "search").matches(a)
    assert not AvcExpectation(src, tgt, "dir", "read").matches(a)
    assert not AvcExpectation(src, "sitepolicy_private_rskeens_com_rw_t", "dir", "search").matches(a)
    assert not AvcExpectation("httpd_t", tgt, "dir", "search").matches(a)
    (p,) = parse_audit_log(PERMISSIVE)
    assert not AvcExpectation("e2etest_php_t", "tmp_t", "file", "read").matches(p)  # permissive is no denial


def test_merge_deduplicates_boots() -> None:
    one = parse_audit_log(SEARCH)
    assert merge(one, one + parse_audit_log(PERMISSIVE)) == sorted(
        one + parse_audit_log(PERMISSIVE), key=lambda a: a.timestamp
    )


def _obs(name: str, start: float, end: float, ok: bool = True, expect=None, attack: bool = False) -> dict:
    return {
        "scenario": "3" if attack else "2",
        "name": name,
        "ok": ok,
        "start": start,
        "end": end,
        "attack": attack,
        "expect_avc": expect,
        "evidence": {},
    }


def test_attack_needs_its_avc_in_its_window() -> None:
    avcs = parse_audit_log(SEARCH)
    expect = ["sitepolicy_selinux_rskeens_com_t", "sitepolicy_private_rskeens_com_content_t", "dir", "search"]
    hit = evaluate([_obs("a", 1795660400.1235, 1795660400.2, expect=expect, attack=True)], avcs, {})
    assert hit.passed and hit.checks[0].matching_avc == SEARCH  # 1 ms audit truncation tolerated
    miss = evaluate([_obs("a", 1795660401.0, 1795660402.0, expect=expect, attack=True)], avcs, {})
    assert not miss.passed and miss.checks[0].matching_avc is None
    assert miss.unexpected_denials == (SEARCH,)  # outside every attack window
    allowed = evaluate([_obs("a", 1795660400.0, 1795660400.2, ok=False, expect=expect, attack=True)], avcs, {})
    assert not allowed.passed  # the AVC alone is not enough: the attempt must have failed


def test_denial_during_legitimate_work_fails() -> None:
    avcs = parse_audit_log(SEARCH)
    report = evaluate([_obs("legit", 1795660400.0, 1795660401.0)], avcs, {})
    assert not report.passed
    assert report.checks[0].avcs_in_window == (SEARCH,)
    assert "FAIL" in report.to_text()
    # A scenario without checks in this run is reported as not run, never as failed or passed.
    assert "--    scenario 8:" in report.to_text() and "FAIL  scenario 8" not in report.to_text()
    clean = evaluate([_obs("legit", 1795660400.0, 1795660401.0)], [], {})
    assert clean.passed and clean.scenario_passed("2")


# Recorded in the guest (2026-11-26): the AVC of a check is stamped 2.7 ms before the check's
# time.time() start (the audit clock is coarse), but it lies between the check's audit markers.
BOOT = "5c3e2b6a-0000-4000-8000-000000000001"
MARKED = [
    f"type=USER msg=audit(1795663111.280:89): pid=612 uid=0 msg='sitepolicy-e2e {BOOT} begin 40'",
    'type=AVC msg=audit(1795663111.280:90): avc:  denied  { read } for  pid=500 comm="php-fpm8.2" '
    'name="private.rskeens.com" dev="vda" ino=20963 scontext=system_u:system_r:sitepolicy_selinux_rskeens_com_t:s0 '
    "tcontext=system_u:object_r:sitepolicy_private_rskeens_com_content_t:s0 tclass=dir permissive=0",
    f"type=USER msg=audit(1795663111.296:91): pid=612 uid=0 msg='sitepolicy-e2e {BOOT} end 100007'",
]


def test_markers_place_an_avc_the_clock_cannot() -> None:
    text = "\n".join(MARKED)
    obs = _obs("list", 1795663111.2827, 1795663111.2997, attack=True)
    obs.update(
        boot_id=BOOT,
        begin_mark=40,
        end_mark=100007,
        expect_avc=["sitepolicy_selinux_rskeens_com_t", "sitepolicy_private_rskeens_com_content_t", "dir", "read"],
    )
    report = evaluate([obs], parse_audit_log(text), {}, parse_marks(text))
    assert report.passed and report.checks[0].matching_avc == MARKED[1]
    other_boot = dict(obs, boot_id="another-boot")  # no markers of that boot: falls back to time
    assert evaluate([other_boot], parse_audit_log(text), {}, parse_marks(text)).checks[0].matching_avc == MARKED[1]


def test_a_trial_sites_permissive_records_are_expected_and_nobody_elses() -> None:
    """Scenario 8 (issue 16): the trial site's permissive=1 records are its needs, logged and not denied."""
    trial = "sitepolicy_trial_rskeens_com_t"
    legit = _obs("legit", 1795660177.0, 1795660178.0)
    avcs = parse_audit_log(PERMISSIVE.replace("e2etest_php_t", trial))
    assert evaluate([legit], avcs, {}, trial_domains=(trial,)).passed
    assert not evaluate([legit], avcs, {}).passed  # without the trial named: a denial like any other
    assert not evaluate([legit], parse_audit_log(PERMISSIVE), {}, trial_domains=(trial,)).passed  # another domain
    enforcing = parse_audit_log(SEARCH.replace("sitepolicy_selinux_rskeens_com_t", trial))
    late = _obs("legit", 1795660400.0, 1795660401.0)
    assert not evaluate([late], enforcing, {}, trial_domains=(trial,)).passed  # permissive=0: a real denial
