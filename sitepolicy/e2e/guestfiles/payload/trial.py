"""Scenario 8 (issue 16), in the guest: a site in trial mode, then enforcing with the definition audit wrote.

Called by runner.py with itself (its helpers and PLAN). Boot 1: install trial.rskeens.com (mode: permissive,
a definition lacking what its application needs) and run the application: it works, SELinux logs its needs
(permissive=1). Boot 2 (after audit --apply and a rebuild on the host): upgrade to the enforcing release;
the application works with no denial at all, and the site is confined again.

The application is the plan's: "mediawiki" (the app image: MediaWiki + MariaDB from payload/mediawiki.py's
helpers, installed over the database socket, then login, edit, upload; the definition lacks uploads/ and the
socket) or "small" (a page written into cache/ and a Redis connect; the definition lacks both).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

# The application: renders a page into cache/ and asks Redis on 127.0.0.1 (no server runs: a connect that
# SELinux allows ends with ECONNREFUSED, one it denies with EACCES).
APP = r"""<?php
$cached = @file_put_contents(__DIR__ . '/cache/page.html', 'rendered at ' . microtime(true)) !== false;
$redis = @fsockopen('127.0.0.1', 6379, $errno, $errstr, 2);
header('Content-Type: application/json');
echo json_encode(['cached' => $cached, 'redis_errno' => $errno, 'redis_error' => $errstr]);
"""
ECONNREFUSED = 111


def _vhost(site: dict) -> None:
    Path(f"/etc/nginx/conf.d/sitepolicy-e2e-{site['name']}.conf").write_text(
        f"""server {{
    listen 80;
    server_name {site["name"]};
    root {site["docroot"]};
    location ~ \\.php$ {{
        include snippets/fastcgi-php.conf;
        fastcgi_pass unix:{site["socket"]};
    }}
}}
"""
    )


def _app(r, site: dict) -> tuple[bool, dict]:
    result = r.request(site["name"], "/app.php")
    try:
        body = json.loads(result["body"])
    except ValueError:
        body = {}
    works = result["status"] == 200 and body.get("cached") is True and body.get("redis_errno") == ECONNREFUSED
    return works, {"request": result}


# ---------------------------------------------------------------------------------------------- MediaWiki

WIKI_DB = {"name": "sitepolicy_trial_wiki", "user": "sitepolicy_trial_wiki", "password": "e2e-Trial-db-pw-1"}
WIKI_DIRS = ("uploads", "cache")  # $wgUploadDirectory, $wgCacheDirectory (mediawiki.local_settings())


def _mediawiki_steps(r, site: dict, boot: str) -> None:
    """Through nginx -> the trial site's php-fpm (payload/mediawiki.py's steps): the main page (from MariaDB), a
    login, an edit read back, an upload stored under uploads/; each a check of scenario 8."""
    import mediawiki

    name = site["name"]
    web = mediawiki.Browser(name)
    t = r.begin()
    page = web.go("GET", "/index.php?title=Main_Page")
    r.check(
        "8",
        f"{name} ({boot}): MediaWiki's main page, from MariaDB over its socket",
        page["status"] == 200 and mediawiki.WIKI_NAME in page["raw"].decode(errors="replace"),
        t,
        mediawiki.shown(page),
    )
    t = r.begin()
    ok, evidence = mediawiki.login(web, name)
    r.check("8", f"{name} ({boot}): login", ok, t, evidence)
    t = r.begin()
    ok, evidence = mediawiki.edit(web, f"Sitepolicy_trial_{boot}")
    r.check("8", f"{name} ({boot}): an edit, read back", ok, t, evidence)
    t = r.begin()
    ok, evidence = mediawiki.upload(web, Path(site["docroot"]), f"Sitepolicy-trial-{boot}.png")
    evidence.pop("data", None)
    evidence["label"] = r.label(str(Path(site["docroot"]) / evidence["path"]))
    r.check("8", f"{name} ({boot}): an upload through Special:Upload, stored under uploads/", ok, t, evidence)


# ---------------------------------------------------------------------------------------------- the scenario


def boot1(r) -> None:
    trial = r.PLAN["trial"]
    site = trial["site"]
    name = site["name"]
    wiki = trial.get("app") == "mediawiki"
    needs = "uploads/ and the database socket" if wiki else "writable cache/ and redis"
    r.say(f"scenario 8: {name} in trial mode (mode: permissive), its application missing {needs}")
    t0 = r.begin()
    root = Path(site["docroot"])
    for sub in {"cache", *site["writable"], *(WIKI_DIRS if wiki else ())}:
        (root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(root / sub, 0o777)  # Unix permissions allow it: any refusal is SELinux's
    if not wiki:
        (root / "app.php").write_text(APP)
    shutil.copyfile(r.PAYLOAD / "probe.php", root / "sitepolicy-e2e-probe.php")
    _vhost(site)
    res = r.sh("rpm", "-i", "--nodeps", *[str(r.PAYLOAD / "rpms" / n) for n in trial["rpms"]], timeout=900)
    active = r.wait_active(site["unit"], 180) and r.sh("systemctl", "reload", "nginx")["rc"] == 0
    # `systemctl reload nginx` returns once the signal is sent; until the new workers run, a request for
    # the new host name reaches the old configuration's default server (404). Wait for the new one.
    active = active and r.wait_for(lambda: r.probe(site, "context")["status"] != 404, 60)
    r.TIMINGS["scenario8_trial_install"] = r.time.time() - t0
    r.check("8", f"{name} (trial): rpm -i, unit active", res["rc"] == 0 and active, t0, res)
    t = r.begin()
    ctx = r.probe(site, "context")
    r.check(
        "8",
        f"{name} (trial): php-fpm runs in {site['domain']}",
        (ctx["json"] or {}).get("context") == r.domain_context(site),
        t,
        ctx,
    )
    if wiki:
        import mediawiki

        t = r.begin()
        steps = mediawiki.install(r, site, WIKI_DB)  # the admin's part, as root: code, database, install.php
        r.TIMINGS["scenario8_mediawiki_install"] = r.time.time() - t
        r.check("8", f"{name} (trial): MediaWiki installed (the admin's steps, as root)", steps["installed"], t,
                steps)  # fmt: skip
        if steps["installed"]:
            _mediawiki_steps(r, site, "trial")
        return
    t = r.begin()
    works, evidence = _app(r, site)
    r.check("8", f"{name} (trial): the application works; its needs are logged permissive=1, not denied", works, t,
            evidence)  # fmt: skip


def boot2(r) -> None:
    trial = r.PLAN["trial"]
    site = trial["site"]
    name = site["name"]
    r.say(f"scenario 8: {name} enforcing, with the definition invoke audit --apply wrote")
    t0 = r.begin()
    wiki = trial.get("app") == "mediawiki"
    res = r.sh("rpm", "-U", "--nodeps", *[str(r.PAYLOAD / "rpms" / n) for n in trial["rpms"]], timeout=900)
    added = site["docroot"] + ("/uploads" if wiki else "/cache")
    relabelled = r.wait_for(lambda: (r.label(added) or "").split(":")[2:3] == [site["types"]["rw"]], 180)
    active = r.wait_active(site["unit"], 180)
    r.TIMINGS["scenario8_upgrade"] = r.time.time() - t0
    r.check(
        "8",
        f"{name}: rpm -U to the audited definition: {added} relabelled {site['types']['rw']}, unit active",
        res["rc"] == 0 and relabelled and active,
        t0,
        {**res, "label": r.label(added)},
    )
    if wiki:
        _mediawiki_steps(r, site, "enforcing")
    else:
        t = r.begin()
        works, evidence = _app(r, site)
        r.check("8", f"{name} (enforcing): the application works with zero denials", works, t, evidence)
    other = next(s for s in r.SITES.values())
    t = r.begin()
    attack = r.probe(site, "read", other["docroot"] + "/hello.txt", data="attack")
    r.check(
        "8",
        f"{name} (enforcing): reading {other['name']}'s docroot is denied",
        attack["status"] == 200 and (attack["json"] or {}).get("ok") is False,
        t,
        {"probe": attack},
        expect_avc=[site["domain"], other["types"]["content"], "dir", "search"],
        attack=True,
    )
