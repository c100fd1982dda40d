#!/usr/bin/env bash
# Regenerates link/overdued.order: the functions a running daemon executes (start on a new
# and on an existing state database, ticks that enqueue, are quiet, or follow an app write,
# deliveries, a reload, stop), for lld's --symbol-ordering-file (`make link-order`).
#
# Why: a daemon's resident memory is mostly its binary's code pages, and the kernel maps
# code in 64 KiB neighbourhoods (and whole page-cache folios) around each page it touches.
# Spread over 26 MB of .text, the ~2 MB the daemon runs kept 14.8 MB of it resident; placed
# together, 9.1 MB (BENCHMARKS.md, 5a). The order changes where code sits, never what it
# does; names that no longer exist are skipped by the linker, so a stale file costs memory,
# not correctness. Run it again after large changes.
#
# Usage: link/profile.sh [BINARY]   (default .build/release/overdued; `make release` first)
#        KEEP_WORK=1 keeps the work directory (logs, callgrind profiles) for a look.
# Needs: valgrind (callgrind), binutils (nm, strip), python3. Takes under a minute.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BIN=$(readlink -f "${1:-$ROOT/.build/release/overdued}")
OUT="$HERE/overdued.order"
[ -x "$BIN" ] || { echo "no binary at $BIN: run make release first" >&2; exit 1; }
for tool in valgrind nm strip python3; do
  command -v "$tool" > /dev/null || { echo "$tool is needed (apt-get install -y valgrind binutils python3)" >&2; exit 1; }
done
STATIC=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift_static/linux
[ -d "$STATIC" ] || { echo "no static Swift libraries at $STATIC" >&2; exit 1; }

WORK=$(mktemp -d /tmp/overdued-profile.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" demo --dir "$WORK/demo" --tickets 20000 --sink "127.0.0.1:$port" > /dev/null
# Deliveries as fast as the sink takes them, so the profile sees the notifier's steady state.
python3 - "$WORK/demo/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
for destination in config["destinations"].values():
    destination.update({"min_interval": "0ms", "concurrency": 8})
config["log"] = {"level": "info", "target": "stderr"}
config["schedule"]["align"] = False  # the first tick at start, not at the next 5-minute mark
json.dump(config, open(path, "w"), indent=2)
PY
"$BIN" sink --listen "127.0.0.1:$port" --signing-secret-file "$WORK/demo/signing-secret" --compact > "$WORK/sink.log" 2>&1 &
PIDS+=($!)

# valgrind cannot read the DWARF of this toolchain; the symbol table is what matters.
cp "$BIN" "$WORK/overdued"
strip --strip-debug "$WORK/overdued"
expected=$("$BIN" scan --config "$WORK/demo/config.json" --dry-run 2> /dev/null | grep -c '^enqueue' || true)
# start_daemon N: `overdued run` under callgrind into $WORK/callgrind.N, its log $WORK/run.N.log.
start_daemon() {
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$WORK/callgrind.$1" \
    "$WORK/overdued" run --config "$WORK/demo/config.json" > /dev/null 2> "$WORK/run.$1.log" &
  daemon=$!
  PIDS+=($daemon)
}
count() { grep -c "$1" "$WORK/run.$2.log" || true; }
# wait_for PATTERN N COUNT: until run N's log has COUNT lines with PATTERN (5 minutes at most);
# otherwise the profile would miss a phase, so stop with the log's tail.
wait_for() {
  for _ in $(seq 300); do [ "$(count "$1" "$2")" -ge "$3" ] && return 0; sleep 1; done
  echo "run $2: $(count "$1" "$2") of $3 log lines with '$1' after 5 minutes; its log ends:" >&2
  tail -5 "$WORK/run.$2.log" >&2
  exit 1
}

# 1. A fresh state database: migrations, a tick that enqueues, the deliveries, a reload, a
#    quiet tick, stop.
start_daemon 1
wait_for 'event=delivered' 1 "$expected"
kill -HUP "$daemon"; wait_for 'event=reload' 1 1
kill -USR1 "$daemon"; wait_for 'enqueued in' 1 2
kill -TERM "$daemon"; wait "$daemon" || true
# 2. A restart on that state (the common case): a quiet tick, then one after the app wrote
#    to its database, stop.
start_daemon 2
wait_for 'enqueued in' 2 1
python3 -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute("UPDATE tickets SET updated_at = CURRENT_TIMESTAMP WHERE id = 1"); db.commit()' "$WORK/demo/tickets.sqlite"
kill -USR1 "$daemon"; wait_for 'enqueued in' 2 2
kill -TERM "$daemon"; wait "$daemon" || true

# Package code first (most of its functions have a section each and move alone), then what
# comes from the toolchain's static libraries (their objects move whole, one section each).
python3 - "$BIN" "$STATIC" "$OUT" "$WORK/callgrind.1" "$WORK/callgrind.2" <<'PY'
import glob, re, subprocess, sys
binary, static, out, *profiles = sys.argv[1:]
def defined(paths):
    names = set()
    for line in subprocess.run(["nm", "--defined-only", *paths], capture_output=True, text=True).stdout.splitlines():
        part = line.split()
        if len(part) == 3 and part[1] in "tTwW":
            names.add(part[2])
    return names
in_binary = defined([binary])
from_toolchain = defined(glob.glob(f"{static}/*.a"))
ran, seen = [], set()
for profile in profiles:
    for line in open(profile, errors="replace"):
        match = re.match(r"^c?fn=\(\d+\) (\S+)", line)
        if match and match.group(1) in in_binary and match.group(1) not in seen:
            seen.add(match.group(1))
            ran.append(match.group(1))
first = [name for name in ran if name not in from_toolchain]
last = [name for name in ran if name in from_toolchain]
with open(out, "w") as file:
    file.write("\n".join(first + last) + "\n")
print(f"{out}: {len(first)} package functions, then {len(last)} from the toolchain's static libraries")
PY
echo "profiled: $(count 'event=delivered' 1) deliveries of $expected, $(count 'enqueued in' 1) + $(count 'enqueued in' 2) ticks, a reload, two stops"
