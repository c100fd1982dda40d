#!/usr/bin/env python3
"""Writes broken variants of a valid config into OUTDIR, one file each, and OUTDIR/expect.tsv:
<file>\t<JSON path (or text) check-config must print>. Secret files the variants need are
written beside them; SECRET_TOKEN (env) is planted where a careless error message would echo it.
usage: broken_configs.py BASE_CONFIG OUTDIR"""
import copy, json, os, sys

base_path, out = sys.argv[1], sys.argv[2]
token = os.environ.get("SECRET_TOKEN", "tok_planted")
os.makedirs(out, exist_ok=True)
base = json.load(open(base_path))
base_dir = os.path.dirname(os.path.abspath(base_path))
# make every relative path absolute so the variants can live in another folder
for key in ("tickets_database", "state_database"):
    base["store"][key] = os.path.join(base_dir, base["store"][key])
for d in base["destinations"].values():
    for k in ("signing_secret_file", "url_file"):
        if k in d:
            d[k] = os.path.join(base_dir, d[k])
    for h, v in list((d.get("headers") or {}).items()):
        if isinstance(v, dict):
            v["file"] = os.path.join(base_dir, v["file"])
dest = next(iter(base["destinations"]))


def w(name, content):
    p = os.path.join(out, name)
    with open(p, "w") as f:
        f.write(content)
    return p


not_sqlite = w("not-a-database.sqlite", "this is not SQLite\n")
bad_secret = w("bad-signing-secret", f"notwhsec_{token}\n")
newline_header = w("header-with-newline", f"Bearer {token}\nX-Injected: 1\n")
os.makedirs(os.path.join(out, "a-folder"), exist_ok=True)

cases = []


def case(name, expect, mutate=None, raw=None):
    cases.append((name, expect, mutate, raw))


def d(c):
    return c["destinations"][dest]


def r(c):
    return c["rules"][0]


case("not-json", "not valid JSON", raw='{"store": {"tickets_database": ')
case("top-array", "expected an object", raw="[]")
case("trailing-comma", "JSON allows no trailing comma", raw='{"store": {"tickets_database": "tickets.sqlite",}}')
case("unknown-top-key", "rulez", lambda c: c.__setitem__("rulez", []))
case("store-missing", "store", lambda c: c.pop("store"))
case("store-null", "store", lambda c: c.__setitem__("store", None))
case("tickets-db-missing-key", "store.tickets_database", lambda c: c["store"].pop("tickets_database"))
case("tickets-db-nonexistent", "store.tickets_database", lambda c: c["store"].__setitem__("tickets_database", "/nonexistent/tickets.sqlite"))
case("tickets-db-folder", "store.tickets_database", lambda c: c["store"].__setitem__("tickets_database", os.path.join(out, "a-folder")))
case("tickets-db-not-sqlite", "store.tickets_database", lambda c: c["store"].__setitem__("tickets_database", not_sqlite))
case("state-db-folder-missing", "store.state_database", lambda c: c["store"].__setitem__("state_database", "/nonexistent/dir/state.sqlite"))
case("state-db-same-as-tickets", "store.state_database", lambda c: c["store"].__setitem__("state_database", c["store"]["tickets_database"]))
case("timezone-typo", "store.timezone", lambda c: c["store"].__setitem__("timezone", "America/Toronot"))
case("timezone-offset", "store.timezone", lambda c: c["store"].__setitem__("timezone", "-05:00"))
case("busy-timeout-words", "store.busy_timeout", lambda c: c["store"].__setitem__("busy_timeout", "5 seconds"))
case("interval-too-short", "schedule.interval", lambda c: c.__setitem__("schedule", {"interval": "500ms"}))
case("align-string", "schedule.align", lambda c: c.__setitem__("schedule", {"interval": "5m", "align": "yes"}))
case("rules-empty", "rules", lambda c: c.__setitem__("rules", []))
case("rule-name-space", "rules[0].name", lambda c: r(c).__setitem__("name", "bad name!"))
case("rule-name-duplicate", "rules[1].name", lambda c: c["rules"].append(copy.deepcopy(r(c))))
case("status-in-empty", "rules[0].match.status_in", lambda c: r(c)["match"].__setitem__("status_in", []))
case("status-in-duplicate", "rules[0].match.status_in", lambda c: r(c)["match"].__setitem__("status_in", ["received", "received"]))
case("status-not-in-overlap", "rules[0].match.status_not_in", lambda c: r(c)["match"].__setitem__("status_not_in", ["received"]))
case("grace-negative", "rules[0].match.grace", lambda c: r(c)["match"].__setitem__("grace", "-1s"))
case("assigned-string", "rules[0].match.assigned", lambda c: r(c)["match"].__setitem__("assigned", "yes"))
case("repeat-every-zero", "rules[0].repeat.every", lambda c: r(c).__setitem__("repeat", {"every": "0s"}))
case("on-change-unknown", "rules[0].repeat.on_change", lambda c: r(c).__setitem__("repeat", {"on_change": ["colour"]}))
case("rule-destination-undefined", "rules[0].destinations", lambda c: r(c).__setitem__("destinations", ["slak"]))
case("rule-destinations-missing", "rules[0].destinations", lambda c: r(c).pop("destinations"))
case("url-ftp", f"destinations.{dest}.url", lambda c: d(c).__setitem__("url", f"ftp://127.0.0.1/hooks/{token}"))
case("url-and-url-file", f"destinations.{dest}", lambda c: d(c).__setitem__("url_file", "/etc/hostname"))
case("url-file-missing", f"destinations.{dest}.url_file", lambda c: (d(c).pop("url"), d(c).__setitem__("url_file", "/nonexistent/url")))
case("format-typo", f"destinations.{dest}.format", lambda c: d(c).__setitem__("format", "legasy"))
case("header-reserved", f"destinations.{dest}.headers", lambda c: d(c).__setitem__("headers", {"Content-Type": "text/plain"}))
case("header-file-missing", f"destinations.{dest}.headers", lambda c: d(c).__setitem__("headers", {"Authorization": {"file": "/nonexistent/token"}}))
case("header-file-newline", f"destinations.{dest}.headers", lambda c: d(c).__setitem__("headers", {"Authorization": {"file": newline_header}}))
case("signing-secret-not-whsec", f"destinations.{dest}.signing_secret_file", lambda c: d(c).__setitem__("signing_secret_file", bad_secret))
case("min-interval-word", f"destinations.{dest}.min_interval", lambda c: d(c).__setitem__("min_interval", "fast"))
case("min-interval-typo-key", "min_intervall", lambda c: d(c).__setitem__("min_intervall", "1s"))
case("concurrency-zero", f"destinations.{dest}.concurrency", lambda c: d(c).__setitem__("concurrency", 0))
case("concurrency-fraction", f"destinations.{dest}.concurrency", lambda c: d(c).__setitem__("concurrency", 1.5))
case("timeout-too-short", f"destinations.{dest}.timeout", lambda c: d(c).__setitem__("timeout", "50ms"))
case("backoff-inverted", f"destinations.{dest}.retry.max_backoff", lambda c: d(c).__setitem__("retry", {"initial_backoff": "5s", "max_backoff": "1s"}))
case("max-attempts-zero", f"destinations.{dest}.retry.max_attempts", lambda c: d(c).__setitem__("retry", {"max_attempts": 0}))
case("log-level", "log.level", lambda c: c.__setitem__("log", {"level": "verbose"}))
case("log-target", "log.target", lambda c: c.__setitem__("log", {"target": "syslog"}))

with open(os.path.join(out, "expect.tsv"), "w") as e:
    for i, (name, expect, mutate, raw) in enumerate(cases, 1):
        fn = f"{i:02d}-{name}.json"
        if raw is None:
            c = copy.deepcopy(base)
            mutate(c)
            raw = json.dumps(c, indent=2)
        w(fn, raw)
        e.write(f"{fn}\t{expect}\n")
print(len(cases))
