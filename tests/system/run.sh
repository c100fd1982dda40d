#!/usr/bin/env bash
# tests/system/run.sh - overdued under a real systemd: Debian 12 (systemd 252) booted in
# systemd-nspawn, the unit from systemd/overdued.service, the real binary, a real receiver.
#
#   sudo tests/system/run.sh            (or: make system-test; CI runs it as root)
#
# Needs root and the Debian mirror (first run: apt-get install systemd-container mmdebstrap,
# then a ~40-120 s bootstrap cached under $OVERDUED_TEST_DIR). Prints TAP-like
# "ok - ..." / "not ok - ..." lines and "N passed, N failed"; exits 1 on any failure.
# The container is always torn down; the journal and the sink's output are kept in
# $OVERDUED_TEST_DIR/last-run/ for a post-mortem.
#
# Environment:
#   OVERDUED_BIN        the binary to test (default .build/release/overdued; build it with
#                       swift build -c release --static-swift-stdlib, it then needs only
#                       glibc, libstdc++, libgcc_s, zlib, libsqlite3 and libsystemd)
#   OVERDUED_TEST_DIR   cache and logs (default ${TMPDIR:-/tmp}/overdued-systemd-test)
#   OVERDUED_TEST_KEEP=1  leave the container running at the end (tests/system/harness.sh
#                       shell / teardown)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OVERDUED_BIN=${OVERDUED_BIN:-$ROOT/.build/release/overdued}
# shellcheck source=harness.sh
source "$HERE/harness.sh"
set +e   # the checks handle failures themselves

PASSED=0
FAILED=0
BOOTED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
check() {  # check "description" command...   (ok when the command succeeds)
    local what=$1; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
note() { echo "# $*"; }

X() { h_exec "$@"; }                                  # run inside the container
prop() { X systemctl show -p "$2" --value "$1"; }     # prop UNIT PROPERTY

# wait_until SECONDS command...: poll every 0.5 s
wait_until() {
    local deadline=$((SECONDS + $1)); shift
    while :; do
        "$@" && return 0
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.5
    done
}

# holds_for SECONDS command...: the command succeeds at every poll (0.5 s) for SECONDS
# (that something lasts; fails at the first poll where it does not)
holds_for() {
    local deadline=$((SECONDS + $1)); shift
    while [ $SECONDS -lt $deadline ]; do
        "$@" || return 1
        sleep 0.5
    done
    "$@"
}

# The journal of overdued.service as JSON lines, optionally after a cursor.
journal_json() {
    X journalctl --sync >/dev/null 2>&1
    if [ -n "${1:-}" ]; then
        X journalctl -q --no-pager -u overdued.service -o json --after-cursor="$1"
    else
        X journalctl -q --no-pager -u overdued.service -o json
    fi
}
cursor() { X journalctl --sync >/dev/null 2>&1; X journalctl -q --no-pager -n 1 -o json | X jq -r .__CURSOR; }
# events EVENT [CURSOR] [jq filter]: the matching records, one compact JSON per line
events() { journal_json "${2:-}" | X jq -c --arg e "$1" "select(.EVENT == \$e) ${3:+| select($3)}"; }
has_event() { [ -n "$(events "$@" | head -1)" ]; }
count_events() { events "$@" | wc -l; }
# count_said TEXT [CURSOR]: how many records of overdued.service have TEXT in their MESSAGE
count_said() { journal_json "${2:-}" | X jq -r '.MESSAGE // empty' | grep -c -F -- "$1"; }
has_said() { [ "$(count_said "$@")" -gt 0 ]; }

SINK_LOG=/run/overdued-sink.log
# The ids the sink accepted (2xx): a request it refused (401) did not arrive as far as the
# receiver's owner is concerned.
sink_ids() { X cat "$SINK_LOG" 2>/dev/null | grep -E -- '-> 2[0-9][0-9] ' | grep -o 'webhook-id=[^ ]*' | cut -d= -f2- | grep -v '^-$' | sort -u; }
# the notification ids overdued enqueued (all boots of the service so far)
enqueued_ids() { events enqueue | X jq -r '.NOTIFICATION_ID // empty' | sort -u; }
missing_at_sink() { comm -23 <(enqueued_ids) <(sink_ids); }
none_missing() { local m; m=$(missing_at_sink); [ -z "$m" ]; }

DEMO=/var/lib/overdued-demo
CONF=/etc/overdued/config.json
CRED=/etc/overdued/credentials
# overdued check-config as root, the way the unit sees secrets and state
check_config() {  # output only when it fails
    local out rc
    out=$(X env CREDENTIALS_DIRECTORY=$CRED STATE_DIRECTORY=/run/overdued-check overdued check-config --config "$1" 2>&1)
    rc=$?
    [ $rc -eq 0 ] || printf '%s\n' "$out" | sed 's/^/#   /' >&2
    return $rc
}
install_config() {  # install_config JQ_FILTER: demo config -> $CONF through jq
    X sh -c "jq '$1' $DEMO/config.json >$CONF.new && chmod 0644 $CONF.new && mv -f $CONF.new $CONF"
}

# j. below: the state directory on a small tmpfs, filled up. STATE_DIR is where systemd keeps
# it for a DynamicUser= service (/var/lib/overdued is a symlink to it); the tmpfs is mounted
# there, so that systemd still chowns it for the dynamic user and makes it writable under
# ProtectSystem=strict (StateDirectory=).
STATE_DIR=/var/lib/private/overdued
STATE_SAVED=/run/overdued-state-saved
FULL_DROPIN=/etc/systemd/system/overdued.service.d/60-full-disk.conf
FULL_DISK=0   # 1 while the tmpfs may be mounted (finish() takes it down after a failure)
# the state directory back on the container's disk, with what the service wrote on the tmpfs
full_disk_restore() {
    X timeout 20 systemctl stop overdued.service
    X sh -c "
        if mountpoint -q $STATE_DIR; then
            rm -f $STATE_DIR/filler
            rm -rf $STATE_SAVED.after
            if cp -a $STATE_DIR $STATE_SAVED.after; then
                umount $STATE_DIR || umount -l $STATE_DIR
                if ! mountpoint -q $STATE_DIR; then
                    find $STATE_DIR -mindepth 1 -delete
                    cp -a $STATE_SAVED.after/. $STATE_DIR/
                fi
            else
                umount $STATE_DIR || umount -l $STATE_DIR
            fi
        fi
        rm -f $FULL_DROPIN"
    X systemctl daemon-reload
    FULL_DISK=0
}

LAST=$H_DIR/last-run
finish() {
    local rc=$?
    if [ "$BOOTED" = 1 ] && h_leader >/dev/null 2>&1; then
        rm -rf "$LAST"; mkdir -p "$LAST"
        X journalctl --sync >/dev/null 2>&1
        X journalctl -q --no-pager -o json >"$LAST/journal.json" 2>/dev/null
        X journalctl -q --no-pager -u overdued.service -u overdued-sink.service -u ticketsapp.service \
            -o short-precise >"$LAST/journal.txt" 2>/dev/null
        X cat "$SINK_LOG" >"$LAST/sink.log" 2>/dev/null
        if [ "$FAILED" -gt 0 ]; then
            note "--- systemctl status overdued"
            X systemctl --no-pager status overdued.service 2>&1 | sed 's/^/#   /' | head -25
            note "--- last journal lines (full journal: $LAST/journal.txt)"
            tail -40 "$LAST/journal.txt" | sed 's/^/#   /'
        fi
    fi
    if [ "$FULL_DISK" = 1 ] && h_leader >/dev/null 2>&1; then
        note "taking down the full tmpfs at $STATE_DIR"
        full_disk_restore
    fi
    if [ "${OVERDUED_TEST_KEEP:-0}" = 1 ]; then
        note "container kept running: $HERE/harness.sh shell | teardown"
    elif [ "$BOOTED" = 1 ]; then
        h_teardown
    fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
    exit 1
}
trap finish EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ container
[ -x "$OVERDUED_BIN" ] || { not_ok "binary $OVERDUED_BIN exists (set OVERDUED_BIN or build: swift build -c release --static-swift-stdlib)"; exit 1; }
# in a child shell, so that the harness runs under set -e
BOOTED=1
"$HERE/harness.sh" boot || { not_ok "boot Debian 12 with systemd as PID 1 (see messages above)"; exit 1; }
ok "container booted: $(X systemctl --version | head -1), state $(X systemctl is-system-running)"

# ------------------------------------------------------------------ install
h_put "$OVERDUED_BIN" /usr/local/bin/overdued 0755
h_put "$ROOT/systemd/overdued.service" /etc/systemd/system/overdued.service 0644
if X overdued --version >/dev/null 2>&1; then
    ok "overdued $(X overdued --version 2>&1 | head -1) runs inside (libraries present)"
else
    not_ok "overdued --version runs inside the container"
    X sh -c 'ldd /usr/local/bin/overdued | grep "not found"' | sed 's/^/#   /'
    exit 1
fi
out=$(X systemd-analyze verify /etc/systemd/system/overdued.service 2>&1)
check "systemd-analyze verify overdued.service${out:+: $out}" test -z "$out"

X systemctl daemon-reload
score=$(X systemd-analyze security --no-pager overdued.service 2>/dev/null |
        sed -n 's/.*Overall exposure level for overdued.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security: exposure ${score:-?} <= 1.5" awk -v s="${score:-99}" 'BEGIN { exit !(s <= 1.5) }'

# ------------------------------------------------------------------ a. demo data and config
# The app's database belongs to the app's user; overdued (DynamicUser) reads it through
# the app's group. The app holds it open in WAL mode, so -wal and -shm exist, group-readable.
X systemd-sysusers --inline 'u ticketsapp - "tickets app" /nonexistent' >/dev/null 2>&1
if X overdued demo --dir $DEMO --tickets 2000 --sink 127.0.0.1:8787 >/dev/null; then
    ok "overdued demo --dir $DEMO --tickets 2000"
else
    not_ok "overdued demo --dir $DEMO --tickets 2000"; exit 1
fi
X sh -ec "
    install -d -m 0700 $CRED /run/overdued-check
    install -m 0600 $DEMO/signing-secret $CRED/signing-secret
    rm -f $DEMO/signing-secret
    chown -R ticketsapp:ticketsapp $DEMO
    chmod 0750 $DEMO
    chmod 0640 $DEMO/*"
X sh -c 'cat >/usr/local/bin/ticketsapp-hold && chmod 0755 /usr/local/bin/ticketsapp-hold' <<EOF
#!/bin/sh
# plays the app: keeps a connection to its database open (WAL: -wal and -shm stay)
(echo 'SELECT count(*) FROM tickets;'; exec sleep infinity) | exec sqlite3 $DEMO/tickets.sqlite
EOF
X systemd-run -q --unit=ticketsapp -p User=ticketsapp -p Group=ticketsapp /usr/local/bin/ticketsapp-hold
check "the app holds $DEMO/tickets.sqlite open in WAL mode (-shm and -wal exist)" \
    wait_until 10 X test -e $DEMO/tickets.sqlite-shm -a -e $DEMO/tickets.sqlite-wal

# config 1: the demo's rule, every 2 s; state in StateDirectory; secret from the credential
install_config '.store.tickets_database = "/var/lib/overdued-demo/tickets.sqlite"
    | del(.store.state_database) | .schedule = {"interval": "2s", "align": false}'
check "config 1 (demo rule, interval 2s) passes check-config" check_config $CONF

# test drop-in: the app's group, the signing secret as a credential, a short watchdog
X mkdir -p /etc/systemd/system/overdued.service.d
X sh -c 'cat >/etc/systemd/system/overdued.service.d/50-system-test.conf' <<EOF
[Service]
SupplementaryGroups=ticketsapp
LoadCredential=signing-secret:$CRED/signing-secret
WatchdogSec=6s
LimitCORE=0
EOF
X systemctl daemon-reload
out=$(X systemd-analyze verify /etc/systemd/system/overdued.service 2>&1)
check "systemd-analyze verify with the test drop-in${out:+: $out}" test -z "$out"

# the receiver, as its own transient unit; its output (one line per webhook) in a file
X systemd-run -q --unit=overdued-sink -p StandardOutput=file:$SINK_LOG \
    overdued sink --listen 127.0.0.1:8787 --signing-secret-file $CRED/signing-secret --compact
check "overdued sink listens on 127.0.0.1:8787" \
    wait_until 15 X bash -c 'exec 3<>/dev/tcp/127.0.0.1/8787' 2>/dev/null

# ------------------------------------------------------------------ b. start
t0=$SECONDS
if X timeout 60 systemctl start overdued.service; then
    ok "systemctl start overdued returned after READY=1 ($((SECONDS - t0)) s)"
else
    not_ok "systemctl start overdued"
fi
check "overdued is active (running)" test "$(prop overdued ActiveState)/$(prop overdued SubState)" = active/running
status=$(prop overdued StatusText)
check "StatusText is set: '$status'" test -n "$status"
pid=$(prop overdued MainPID)
user=$(X ps -o user= -p "$pid" 2>/dev/null | tr -d ' ')
check "runs as the dynamic user (MainPID $pid, user '$user')" test -n "$user" -a "$user" != root
check "journal: EVENT=start" wait_until 10 has_event start

# ------------------------------------------------------------------ c. journal fields
check "journal: EVENT=tick records (native fields)" wait_until 20 has_event tick
check "journal: EVENT=enqueue with RULE, TICKET, TICKET_ID, NOTIFICATION_ID, DESTINATION=sink" \
    wait_until 20 has_event enqueue '' \
    '.RULE == "overdue-assigned" and .TICKET != null and .TICKET_ID != null and .NOTIFICATION_ID != null and .DESTINATION == "sink"'
check "journal: EVENT=delivered with NOTIFICATION_ID, HTTP_STATUS=200, DURATION_MS" wait_until 30 has_event delivered '' \
    '.NOTIFICATION_ID != null and .HTTP_STATUS == "200" and .DURATION_MS != null and .ATTEMPT != null'
check "journal: SYSLOG_IDENTIFIER=overdued on the records" \
    test "$(events tick | head -1 | X jq -r .SYSLOG_IDENTIFIER)" = overdued
secret=$(X sed -n 's/^whsec_//p' $CRED/signing-secret)
leak=$(journal_json | grep -c -F -- "$secret")
check "journal: the signing secret appears nowhere" test -n "$secret" -a "$leak" = 0

# ------------------------------------------------------------------ d. the sink
check "sink: every enqueued notification arrived (webhook-id = NOTIFICATION_ID)" wait_until 60 none_missing
n_sink=$(sink_ids | wc -l); n_enq=$(enqueued_ids | wc -l)
check "sink: $n_sink webhook ids received, $n_enq notifications enqueued (> 0)" test "$n_enq" -gt 0 -a "$n_sink" -ge "$n_enq"
bad=$(X grep -c -- '-> 401' "$SINK_LOG")
check "sink: every signature verified (no 401)" test "${bad:-0}" = 0
status2=$(prop overdued StatusText)
check "StatusText changed after ticks: '$status2'" test -n "$status2" -a "$status2" != "$status"

# ------------------------------------------------------------------ e. reload, valid config
pid=$(prop overdued MainPID)
c=$(cursor)
install_config '.store.tickets_database = "/var/lib/overdued-demo/tickets.sqlite"
    | del(.store.state_database) | .schedule = {"interval": "3s", "align": false}
    | .destinations.sink.min_interval = "50ms"
    | .rules += [{"name": "late-in-work", "match": {"status_in": ["in_progress", "waiting_parts", "private"]},
                  "repeat": {"every": "24h"}, "destinations": ["sink"]}]'
check "config 2 (+ rule late-in-work, interval 3s, min_interval 50ms) passes check-config" check_config $CONF
check "systemctl reload overdued (valid config 2)" X systemctl reload overdued.service
check "journal: EVENT=reload after the reload" wait_until 15 has_event reload "$c"
check "journal: the new rule works (EVENT=enqueue RULE=late-in-work)" wait_until 20 has_event enqueue "$c" '.RULE == "late-in-work"'
check "same process after reload (MainPID $pid), still active" \
    test "$(prop overdued MainPID)" = "$pid" -a "$(prop overdued ActiveState)" = active
check "sink: late-in-work notifications arrived too" wait_until 60 none_missing

# ------------------------------------------------------------------ f. reload, broken config
c=$(cursor)
X cp $CONF /run/config-good.json
X sh -c "jq '.schedule.interval = \"1ms\" | .rules[0].destinations = [\"nowhere\"]' /run/config-good.json >$CONF"
if check_config $CONF 2>/dev/null; then not_ok "broken config fails check-config"; else ok "broken config fails check-config"; fi
check "systemctl reload overdued (broken config)" X systemctl reload overdued.service
check "journal: EVENT=reload_failed" wait_until 15 has_event reload_failed "$c"
check "still active on the old config (same MainPID $pid)" \
    test "$(prop overdued ActiveState)" = active -a "$(prop overdued MainPID)" = "$pid"
c2=$(cursor)
check "still ticking after the failed reload" wait_until 15 has_event tick "$c2"
X cp /run/config-good.json $CONF

# ------------------------------------------------------------------ g. watchdog
# config 3: a third rule and a slow destination, so that deliveries are pending when the
# process hangs; after the watchdog restart every one of them must still arrive.
install_config '.store.tickets_database = "/var/lib/overdued-demo/tickets.sqlite"
    | del(.store.state_database) | .schedule = {"interval": "3s", "align": false}
    | .destinations.sink.min_interval = "700ms"
    | .rules += [{"name": "late-in-work", "match": {"status_in": ["in_progress", "waiting_parts", "private"]},
                  "repeat": {"every": "24h"}, "destinations": ["sink"]},
                 {"name": "late-any", "match": {"status_in": ["received", "diagnostic"], "include_deleted": true},
                  "repeat": {"every": "24h"}, "destinations": ["sink"]}]'
c=$(cursor)
X systemctl reload overdued.service
check "config 3's new rule enqueued" wait_until 20 has_event enqueue "$c" '.RULE == "late-any"'
restarts=$(prop overdued NRestarts)
pending=$(missing_at_sink | wc -l)
# Without deliveries pending, "nothing lost" below would hold whatever the restart did.
check "deliveries pending when the process is stopped ($pending)" test "$pending" -gt 0
X kill -STOP "$pid"
t0=$SECONDS
restarted() { [ "$(prop overdued NRestarts)" -gt "$restarts" ] && [ "$(prop overdued ActiveState)" = active ] &&
              [ "$(prop overdued MainPID)" != "$pid" ] && [ "$(prop overdued MainPID)" != 0 ]; }
if wait_until 60 restarted; then
    ok "watchdog: SIGSTOPped process replaced after $((SECONDS - t0)) s (NRestarts $restarts -> $(prop overdued NRestarts), MainPID $pid -> $(prop overdued MainPID))"
else
    not_ok "watchdog: SIGSTOPped process replaced (NRestarts=$(prop overdued NRestarts) ActiveState=$(prop overdued ActiveState) MainPID=$(prop overdued MainPID))"
fi
wd=$(X journalctl -q --no-pager -u overdued.service -o cat --after-cursor="$c" | grep -c -i 'watchdog timeout')
check "journal: systemd logged the watchdog timeout" test "$wd" -ge 1
check "nothing lost: every enqueued notification reached the sink after the restart" wait_until 90 none_missing
note "sink: $(sink_ids | wc -l) distinct webhook ids, $(X grep -c 'webhook-id=' "$SINK_LOG") requests, $(enqueued_ids | wc -l) notifications enqueued"

# ------------------------------------------------------------------ h. stop
pid=$(prop overdued MainPID)
t0=$(date +%s%N)
X timeout 20 systemctl stop overdued.service
ms=$((($(date +%s%N) - t0) / 1000000))
check "systemctl stop: inactive after ${ms} ms (< 5000)" test "$(prop overdued ActiveState)" = inactive -a "$ms" -lt 5000
check "stopped cleanly: ExecMainStatus=$(prop overdued ExecMainStatus) Result=$(prop overdued Result)" \
    test "$(prop overdued ExecMainStatus)" = 0 -a "$(prop overdued Result)" = success
check "journal: EVENT=stop" has_event stop

# ------------------------------------------------------------------ i. open files
# Each request in flight holds a socket; the unit sets LimitNOFILE=16384, soft and hard (the
# system call filter refuses setrlimit, so overdued cannot raise it itself).
check "systemctl start overdued (again)" X timeout 60 systemctl start overdued.service
pid=$(prop overdued MainPID)
nofile=$(X awk '/^Max open files/ { print $4, $5 }' /proc/"$pid"/limits 2>/dev/null)
check "LimitNOFILE: Max open files of MainPID $pid is '$nofile' (soft hard: 16384 16384)" test "$nofile" = "16384 16384"

# ------------------------------------------------------------------ j. a start on a full disk
# The state database's file system is full at start: overdued waits (activating, STATUS=
# "waiting for free space: ...", EXTEND_TIMEOUT_USEC every 5 s) instead of exiting 1, which
# was restarted five times and left the unit failed. A start timeout shorter than the wait
# (8 s) shows that the extensions keep the start alive; the watchdog (6 s) must not fire
# either. A stop ends the wait (exit 0); freeing space starts the same process.
X timeout 20 systemctl stop overdued.service
FULL_DISK=1
X sh -c "printf '[Service]\nTimeoutStartSec=8s\n' >$FULL_DROPIN"
X systemctl daemon-reload
check "start timeout 8 s for the full-disk checks: TimeoutStartUSec=$(prop overdued TimeoutStartUSec)" \
    test "$(prop overdued TimeoutStartUSec)" = 8s
# a copy of the state directory (owner, mode) on a tmpfs 16 MiB larger than its files
X sh -ec "
    rm -rf $STATE_SAVED $STATE_SAVED.after
    cp -a $STATE_DIR $STATE_SAVED
    kib=\$(du -sk $STATE_SAVED | cut -f1)
    mount -t tmpfs -o size=\$((kib + 16384))k,mode=0700 overdued-full $STATE_DIR
    cp -a $STATE_SAVED/. $STATE_DIR/
    chown --reference=$STATE_SAVED $STATE_DIR
    chmod --reference=$STATE_SAVED $STATE_DIR
    dd if=/dev/zero of=$STATE_DIR/filler bs=64k 2>/dev/null || true"
check "the state directory is a full tmpfs ($(X stat -f -c '%a of %b blocks free' $STATE_DIR), state.sqlite there)" \
    X sh -c "mountpoint -q $STATE_DIR && test \"\$(stat -f -c %a $STATE_DIR)\" = 0 -a -s $STATE_DIR/state.sqlite"
waiting_for_space() {
    [ "$(prop overdued ActiveState)" = activating ] && prop overdued StatusText | grep -q -F 'waiting for free space'
}

# a stop ends the wait
c=$(cursor)
X systemctl start --no-block overdued.service
check "full disk: the start waits (activating, StatusText 'waiting for free space: ...')" wait_until 20 waiting_for_space
note "StatusText: $(prop overdued StatusText)"
check "journal: 'cannot start yet: ...; waiting for free space'" \
    wait_until 10 has_said 'cannot start yet: ' "$c"
t0=$(date +%s%N)
X timeout 20 systemctl stop overdued.service
ms=$((($(date +%s%N) - t0) / 1000000))
check "a stop ends the wait: $(prop overdued ActiveState) after ${ms} ms (< 5000), ExecMainStatus=$(prop overdued ExecMainStatus) Result=$(prop overdued Result)" \
    test "$(prop overdued ActiveState)" = inactive -a "$ms" -lt 5000 \
         -a "$(prop overdued ExecMainStatus)" = 0 -a "$(prop overdued Result)" = success
check "journal: 'stopped while waiting for free space'" has_said 'stopped while waiting for free space' "$c"

# the wait lasts (past the 8 s start timeout, across retries), then freeing space starts it
c=$(cursor)
X systemctl start --no-block overdued.service
check "full disk again: the start waits" wait_until 20 waiting_for_space
wpid=$(prop overdued MainPID)
restarts=$(prop overdued NRestarts)
t0=$SECONDS
still_waiting() {
    waiting_for_space && [ "$(prop overdued MainPID)" = "$wpid" ] && [ "$(prop overdued NRestarts)" = "$restarts" ]
}
if holds_for 12 still_waiting; then
    ok "still waiting after $((SECONDS - t0)) s more (past TimeoutStartSec=8s and the watchdog's 6 s): same MainPID $wpid, NRestarts $restarts"
else
    not_ok "still waiting after 12 s (after $((SECONDS - t0)) s: $(prop overdued ActiveState)/$(prop overdued SubState) Result=$(prop overdued Result) MainPID $wpid -> $(prop overdued MainPID) NRestarts $restarts -> $(prop overdued NRestarts))"
fi
n=$(count_said 'cannot start yet: ' "$c")
check "journal: 'cannot start yet' said once during the wait ($n)" test "$n" = 1
X rm -f $STATE_DIR/filler
t0=$SECONDS
started_after_wait() {
    [ "$(prop overdued ActiveState)/$(prop overdued SubState)" = active/running ]
}
if wait_until 20 started_after_wait; then
    ok "space freed: active (running) after $((SECONDS - t0)) s"
else
    not_ok "space freed: active (running) within 20 s ($(prop overdued ActiveState)/$(prop overdued SubState))"
fi
check "journal: 'there is space again: starting'" wait_until 10 has_said 'there is space again: starting' "$c"
check "the waiting process started (MainPID $wpid -> $(prop overdued MainPID), NRestarts $restarts -> $(prop overdued NRestarts))" \
    test "$wpid" != 0 -a "$(prop overdued MainPID)" = "$wpid" -a "$(prop overdued NRestarts)" = "$restarts"
status=$(prop overdued StatusText)
check "StatusText no longer waiting: '$status'" test -n "$status" -a "${status#*waiting for free space}" = "$status"
check "journal: ticking on the freed tmpfs (EVENT=tick)" wait_until 15 has_event tick "$c"

# back to the state directory on the container's disk, with what was written on the tmpfs
full_disk_restore
check "state directory restored: $STATE_DIR no longer a mount point, state.sqlite there" \
    X sh -c "! mountpoint -q $STATE_DIR && test -s $STATE_DIR/state.sqlite -a ! -e $STATE_DIR/filler"
check "start timeout back to the default: TimeoutStartUSec=$(prop overdued TimeoutStartUSec)" \
    test "$(prop overdued TimeoutStartUSec)" != 8s
c=$(cursor)
check "systemctl start overdued after the restore" X timeout 60 systemctl start overdued.service
check "overdued is active (running) on the restored state" test "$(prop overdued ActiveState)/$(prop overdued SubState)" = active/running
check "journal: ticking after the restore (EVENT=tick)" wait_until 15 has_event tick "$c"
check "nothing lost: every enqueued notification reached the sink" wait_until 60 none_missing
X timeout 20 systemctl stop overdued.service
check "stopped cleanly: $(prop overdued ActiveState), ExecMainStatus=$(prop overdued ExecMainStatus) Result=$(prop overdued Result)" \
    test "$(prop overdued ActiveState)" = inactive -a "$(prop overdued ExecMainStatus)" = 0 -a "$(prop overdued Result)" = success
