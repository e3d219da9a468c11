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


def _mediawiki_setup(r, site: dict) -> dict:
    """The admin's part (root, outside the site's domain): MediaWiki's code in the docroot, a database and its
    user in MariaDB (its unix socket only), maintenance/install.php, the directories owned by the pool user."""
    import mediawiki

    root = Path(site["docroot"])
    steps = {}
    shutil.copytree(
        mediawiki.MEDIAWIKI,
        root,
        symlinks=False,
        ignore_dangling_symlinks=True,
        dirs_exist_ok=True,
        ignore=lambda d, names: [n for n in names if d == str(mediawiki.MEDIAWIKI) and n in mediawiki.TOP_SKIPPED],
        copy_function=shutil.copyfile,
    )
    for sub in WIKI_DIRS:
        (root / sub).mkdir(exist_ok=True)
    conf = Path("/etc/mysql/mariadb.conf.d/99-sitepolicy-e2e.cnf")
    if not conf.is_file():  # scenario app wrote it already when it ran
        conf.write_text("[mysqld]\nskip-networking\n")
        steps["mariadb restart"] = r.sh("systemctl", "restart", "mariadb")
    db = WIKI_DB
    steps["database"] = r.sh(
        "mysql",
        "-e",
        f"CREATE DATABASE {db['name']}; CREATE USER '{db['user']}'@'localhost' IDENTIFIED BY '{db['password']}'; "
        f"GRANT ALL ON {db['name']}.* TO '{db['user']}'@'localhost';",
    )
    steps["install.php"] = r.sh(
        "php",
        str(root / "maintenance/install.php"),
        "--dbtype=mysql",
        "--dbserver=localhost",
        f"--dbname={db['name']}",
        f"--dbuser={db['user']}",
        f"--dbpass={db['password']}",
        f"--server=http://{site['name']}",
        "--scriptpath=",
        f"--confpath={root}",
        f"--pass={mediawiki.ADMIN['password']}",
        mediawiki.WIKI_NAME,
        mediawiki.ADMIN["name"],
        timeout=900,
    )
    settings = root / "LocalSettings.php"
    if settings.exists():
        settings.write_text(settings.read_text() + mediawiki.local_settings())
        shutil.chown(settings, "root", site["group"])
        os.chmod(settings, 0o640)
    for sub in WIKI_DIRS:
        steps[f"chown {sub}"] = r.sh("chown", "-R", f"{site['user']}:{site['group']}", str(root / sub))
    steps["restorecon"] = r.sh("restorecon", "-R", str(root))
    steps["ok"] = steps["database"]["rc"] == 0 and steps["install.php"]["rc"] == 0 and settings.exists()
    return steps


def _mediawiki_steps(r, site: dict, boot: str) -> None:
    """Through nginx -> the trial site's php-fpm: the main page (from MariaDB), a login, an edit read back, an
    upload stored under uploads/; each a check of scenario 8."""
    import hashlib
    import html
    import re
    import time

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
    token = web.api({"action": "query", "meta": "tokens", "type": "login"})
    login_token = ((token.get("json") or {}).get("query") or {}).get("tokens", {}).get("logintoken", "")
    login = web.api(
        {
            "action": "clientlogin",
            "username": mediawiki.ADMIN["name"],
            "password": mediawiki.ADMIN["password"],
            "logintoken": login_token,
            "loginreturnurl": f"http://{name}/",
        },
        post=True,
    )
    status = ((login.get("json") or {}).get("clientlogin") or {}).get("status")
    r.check("8", f"{name} ({boot}): login", status == "PASS", t, mediawiki.shown(login))
    t = r.begin()
    csrf = web.api({"action": "query", "meta": "tokens"})
    edit_token = ((csrf.get("json") or {}).get("query") or {}).get("tokens", {}).get("csrftoken", "")
    text = f"Written by the sitepolicy e2e trial ({boot}) at {time.time():.0f}."
    edit = web.api(
        {"action": "edit", "title": "Sitepolicy_trial", "text": text, "summary": boot, "token": edit_token}, post=True
    )
    back = web.go("GET", "/index.php?title=Sitepolicy_trial&action=raw")
    result = ((edit.get("json") or {}).get("edit") or {}).get("result")
    r.check(
        "8",
        f"{name} ({boot}): an edit, read back",
        result == "Success" and back["status"] == 200 and text in back["body"],
        t,
        {**mediawiki.shown(edit), "read_back": mediawiki.shown(back)},
    )
    t = r.begin()
    upload_name = f"Sitepolicy-trial-{boot}.png"
    form = web.go("GET", "/index.php?title=Special:Upload")
    field = re.search(r'<input[^>]*name="wpEditToken"[^>]*>', form["raw"].decode(errors="replace"))
    match = re.search(r'value="([^"]*)"', field.group(0)) if field else None
    body, ctype = mediawiki.multipart(
        {
            "title": "Special:Upload",
            "wpSourceType": "file",
            "wpDestFile": upload_name,
            "wpUploadDescription": f"sitepolicy e2e trial ({boot})",
            "wpLicense": "",
            "wpIgnoreWarning": "1",
            "wpDestFileWarningAck": "1",
            "wpEditToken": html.unescape(match.group(1)) if match else "",
            "wpUpload": "Upload file",
        },
        {"wpUploadFile": (upload_name, "image/png", mediawiki.png())},
    )
    upload = web.go("POST", "/index.php", body, ctype)
    digest = hashlib.md5(upload_name.encode()).hexdigest()
    stored = Path(site["docroot"]) / f"uploads/{digest[0]}/{digest[:2]}/{upload_name}"
    r.check(
        "8",
        f"{name} ({boot}): an upload through Special:Upload, stored under uploads/",
        bool(match) and upload["status"] in (302, 303) and stored.exists(),
        t,
        {**mediawiki.shown(upload), "stored": str(stored), "label": r.label(str(stored))},
    )


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
    for sub in ("cache", *site["writable"]):
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
        t = r.begin()
        steps = _mediawiki_setup(r, site)
        r.TIMINGS["scenario8_mediawiki_install"] = r.time.time() - t
        r.check("8", f"{name} (trial): MediaWiki installed (the admin's steps, as root)", steps["ok"], t, steps)
        if steps["ok"]:
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
