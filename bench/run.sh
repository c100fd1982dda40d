#!/usr/bin/env bash
# Benchmarks against the baselines (issue 4). Run by `make bench`; prints a table and writes
# BENCHMARKS.md at the repository root. Everything runs on 127.0.0.1.
#
#   OVERDUED_BIN   binary under test (default .build/release/overdued)
#   BENCH_QUICK=1  smaller N and fewer runs, to try the script (the table says so)
#   BENCH_CACHE    generated demo databases, keyed by N (default /tmp/overdued-bench-cache)
#   BENCH_OUT      work files and raw results (default /tmp/overdued-bench-run)
#   BENCH_MAX_GEN  seconds allowed to generate the 10M database before falling back to 3M (600;
#                  it took 456 s on the 2-core machine of BENCHMARKS.md)
#   BENCH_IDLE     idle window for the footprint, seconds (60; quick 15)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
BIN=${OVERDUED_BIN:-.build/release/overdued}
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
QUICK=${BENCH_QUICK:-0}
CACHE=${BENCH_CACHE:-/tmp/overdued-bench-cache}
OUT=${BENCH_OUT:-/tmp/overdued-bench-run}
MAX_GEN=${BENCH_MAX_GEN:-600}
PY=${PYTHON:-python3}
export LC_ALL=C

if [ "$QUICK" = 1 ]; then
  N_TICK=100000; SIZES="100000 1000000"; RUNS=3; N_DELIVER=1000; N_LOOP=100; N_SPACING=20
  IDLE=${BENCH_IDLE:-15}; READY_RUNS=10; WRK_SECONDS=3; CONCURRENCY="8"
else
  N_TICK=1000000; SIZES="100000 1000000 10000000"; RUNS=10; N_DELIVER=5000; N_LOOP=300; N_SPACING=50
  IDLE=${BENCH_IDLE:-60}; READY_RUNS=15; WRK_SECONDS=10; CONCURRENCY="8 16"
fi

say() { echo "== $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# render_table: the table on stdout and BENCHMARKS.md, from $OUT/results.tsv and
# $OUT/machine.json, with bench/NOTES.md (profiles of the missed targets) appended.
render_table() {
  local extra="$OUT/extra.md"
  [ -f "$HERE/NOTES.md" ] && cp "$HERE/NOTES.md" "$extra" || : > "$extra"
  "$PY" - "$OUT/machine.json" "$extra" <<'PY'
import json, os, sys
m = json.load(open(sys.argv[1])); m["extra"] = sys.argv[2] if os.path.getsize(sys.argv[2]) else ""
json.dump(m, open(sys.argv[1], "w"))
PY
  echo
  "$PY" "$HERE/measure.py" render "$OUT/results.tsv" "$OUT/machine.json" "$ROOT/BENCHMARKS.md"
  echo
  echo "wrote BENCHMARKS.md (raw results in $OUT)"
}
# BENCH_RENDER_ONLY=1: rewrite BENCHMARKS.md from the last run's results (after editing NOTES.md).
if [ "${BENCH_RENDER_ONLY:-0}" = 1 ]; then
  [ -f "$OUT/results.tsv" ] && [ -f "$OUT/machine.json" ] || die "no results in $OUT to render"
  render_table
  exit 0
fi


# --- tools: public Debian packages, installed when missing (root, as `make` does) ----------
need=""
for pair in hyperfine:hyperfine wrk:wrk /usr/bin/time:time sqlite3:sqlite3 python3:python3 curl:curl \
            prometheus-alertmanager:prometheus-alertmanager; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need="$need ${pair#*:}"
done
if [ -n "$need" ]; then
  say "installing:$need"
  [ "$(id -u)" = 0 ] || die "missing:$need (install them or run as root)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need; } >/dev/null \
    || die "could not install$need"
fi
[ -x "$BIN" ] || die "no binary at $BIN: build it (make release, or swift build -c release)"
# A binary older than the sources would measure code that is not the one checked out.
stale=$(find "$ROOT/Sources" "$ROOT/Package.swift" -type f -newer "$BIN" 2>/dev/null | head -1)
[ -z "$stale" ] || die "$BIN is older than ${stale#$ROOT/}: rebuild it (make release)"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$ROOT" status --porcelain -- Sources Package.swift 2>/dev/null)" ] || COMMIT="$COMMIT with uncommitted changes"

rm -rf "$OUT"
mkdir -p "$OUT" "$CACHE"
RESULTS="$OUT/results.tsv"
: > "$RESULTS"
# row ID MEASURE FIGURE BASELINE RATIO TARGET RESULT [NOTE]
row() { local a=("$@"); while [ "${#a[@]}" -lt 8 ]; do a+=(""); done; printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${a[@]:0:8}" >> "$RESULTS"; }
verdict() { "$PY" -c "import sys; print('met' if $1 else 'gap')"; }
calc() { "$PY" -c "print($1)"; }

PIDS=()
track() { PIDS+=("$1"); }
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done; sleep 0.2; for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hf_median() { "$PY" "$HERE/measure.py" hyperfine "$1" | sed -n "${2:-1}p"; }

# --- the receiver every delivery benchmark shares -------------------------------------------
RPORT=$(free_port)
"$PY" "$HERE/receiver.py" --port "$RPORT" --log "$OUT/receiver.log" > "$OUT/receiver.out" 2>&1 &
track $!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$RPORT/_stats" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$RPORT/_stats" >/dev/null || die "the receiver did not start"
HOOK="http://127.0.0.1:$RPORT/hooks/bench"
received() { curl -s "http://127.0.0.1:$RPORT/_stats" | cut -d' ' -f1; }
dump() { : > "$OUT/receiver.log"; curl -s "http://127.0.0.1:$RPORT/_dump" >/dev/null; }

# --- data: `overdued demo --tickets N`, cached by N --------------------------------------------
GEN_NOTE=""
# demo_db N [TIMEOUT]: prints the cached folder; generates it when missing.
demo_db() {
  local n=$1 dir="$CACHE/$1"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir.tmp" "$dir"
    say "generating $n tickets (cached in $dir)"
    local t0=$(date +%s)
    if ! timeout "${2:-3600}" "$BIN" demo --dir "$dir.tmp" --tickets "$n" --sink 127.0.0.1:9 > "$OUT/demo-$n.out" 2>&1; then
      rm -rf "$dir.tmp"; return 1
    fi
    sqlite3 "$dir.tmp/tickets.sqlite" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
    echo "$(( $(date +%s) - t0 ))" > "$dir.tmp/.generation-seconds"
    touch "$dir.tmp/.complete"
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}
# derived_db NAME BASE_N SQL: a cached copy of a demo database reshaped by SQL.
derived_db() {
  local dir="$CACHE/$1" base
  if [ ! -f "$dir/.complete" ]; then
    base=$(demo_db "$2") || return 1
    rm -rf "$dir"; mkdir -p "$dir"
    say "deriving $1 from $2 tickets"
    sqlite3 "$base/tickets.sqlite" ".backup '$dir/tickets.sqlite'"
    sqlite3 "$dir/tickets.sqlite" "$3" >/dev/null || return 1
    cp "$base/signing-secret" "$dir/"
    touch "$dir/.complete"
  fi
  echo "$dir"
}
# config FILE TICKETS_DB STATE_DB DESTINATION_EXTRA [SCHEDULE]: the demo's rule and legacy
# signed destination, pointed at the shared receiver.
config() {
  local schedule='{ "interval": "5m", "align": false }'
  [ -n "${5:-}" ] && schedule=$5
  cat > "$1" <<JSON
{
  "store": { "tickets_database": "$2", "state_database": "$3", "timezone": "America/Toronto" },
  "schedule": $schedule,
  "rules": [ { "name": "overdue-assigned", "match": { "status_in": ["received", "diagnostic"], "assigned": true },
               "repeat": { "every": "24h", "on_change": ["assigned_to", "scheduled_date"] }, "destinations": ["sink"] } ],
  "destinations": { "sink": { "url": "$HOOK", "format": "legacy", "signing_secret_file": "$(dirname "$2")/signing-secret"${4:+, $4} } },
  "log": { "level": "info", "target": "stderr" }
}
JSON
}
reset_state() { rm -f "$1" "$1-wal" "$1-shm"; }

# ================================================================ 1. tick cost vs the floor
say "1. tick cost: overdued scan vs sqlite3 with the same select and inserts ($N_TICK tickets)"
TICK_DIR=$(demo_db "$N_TICK") || die "cannot generate $N_TICK tickets"
W="$OUT/tick"; mkdir -p "$W"
config "$W/config.json" "$TICK_DIR/tickets.sqlite" "$W/state.sqlite"
# An empty state database with overdued's schema, copied before every run of either side.
# (A committing scan at an instant before every ticket's date: it creates the file and
# enqueues nothing; a dry run creates no state database.)
"$BIN" scan --config "$W/config.json" --now 2000-01-01T00:00:00Z > /dev/null 2>&1
sqlite3 "$W/state.sqlite" "DELETE FROM notification; DELETE FROM dedup_state; DELETE FROM delivery_attempt; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
[ "$(sqlite3 "$W/state.sqlite" "SELECT count(*) FROM sqlite_master WHERE name IN ('notification','dedup_state')")" = 2 ] \
  || die "could not make an empty state database"
mv "$W/state.sqlite" "$W/empty-state.sqlite"; rm -f "$W/state.sqlite-wal" "$W/state.sqlite-shm"
cat > "$W/prepare.sh" <<SH
rm -f "$W/state.sqlite" "$W/state.sqlite-wal" "$W/state.sqlite-shm"
cp "$W/empty-state.sqlite" "$W/state.sqlite"
SH
CUTOFF=$("$PY" -c 'import datetime as d; print((d.datetime.now(d.timezone.utc) + d.timedelta(hours=14) + d.timedelta(days=1)).strftime("%Y-%m-%d"))')
# The floor: overdued's own query (RuleQuery + TicketsDatabase.selectSQL), the overdue test
# and the dedup lookups in SQL, then the same two inserts (notification with a JSON snapshot,
# dedup_state), in one transaction, committed as overdued commits an enqueueing: synced to the
# disk (FULL) before it returns.
cat > "$W/floor.sql" <<SQL
PRAGMA synchronous = FULL;
ATTACH 'file:$TICK_DIR/tickets.sqlite?mode=ro' AS app;
BEGIN;
CREATE TEMP TABLE m AS
SELECT t.id, t.ticket_id, t.title, t.description, t.status, t.priority, t.machine_id,
       mc.machine_type, mc.model, mc.location, t.reported_by, r.full_name AS reporter_name,
       t.assigned_to, a.full_name AS assignee_full, t.assignee_name, t.created_at, t.scheduled_date,
       t.is_machine_down, t.deleted_at, julianday(t.scheduled_date, '+5 hours') AS due
FROM app.tickets AS t
LEFT JOIN app.machines AS mc ON mc.id = t.machine_id
LEFT JOIN app.users AS r ON r.id = t.reported_by
LEFT JOIN app.users AS a ON a.id = t.assigned_to
WHERE t.status IN ('received', 'diagnostic')
  AND +t.scheduled_date IS NOT NULL
  AND (+t.scheduled_date < '$CUTOFF' OR NOT +t.scheduled_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*')
  AND +t.assigned_to IS NOT NULL AND +t.deleted_at IS NULL
  AND julianday(t.scheduled_date, '+5 hours') < julianday('now')
  AND NOT EXISTS (SELECT 1 FROM main.dedup_state d WHERE d.rule = 'overdue-assigned' AND d.ticket = t.id)
  AND NOT EXISTS (SELECT 1 FROM main.notification n WHERE n.rule = 'overdue-assigned' AND n.ticket = t.id
                  AND n.status IN ('pending', 'retrying'));
INSERT INTO main.notification (id, rule, ticket, ticket_id, destination, snapshot, status, created_at, next_attempt_at, attempts)
SELECT 'msg_' || lower(hex(randomblob(16))), 'overdue-assigned', id, ticket_id, 'sink',
       json_object('assigned_to', assigned_to, 'assignee_name', coalesce(assignee_full, assignee_name),
         'created_at', created_at, 'description', description,
         'detected_at', (julianday('now') - 2440587.5) * 86400000.0, 'due_at', CAST((due - 2440587.5) * 86400000 AS INTEGER),
         'is_machine_down', json(CASE WHEN is_machine_down THEN 'true' ELSE 'false' END),
         'machine', json_object('id', machine_id, 'location', location, 'model', model, 'type', machine_type),
         'priority', priority, 'reported_by', reported_by, 'reporter_name', reporter_name, 'rule', 'overdue-assigned',
         'scheduled_date', scheduled_date, 'status', status, 'ticket', id, 'ticket_id', ticket_id, 'title', title),
       'pending', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
       CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 0
FROM m;
INSERT INTO main.dedup_state (rule, ticket, last_notified_at, scheduled_date, assigned_to, status, priority, source)
SELECT 'overdue-assigned', id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), scheduled_date, assigned_to,
       status, priority, 'scan' FROM m;
COMMIT;
SQL
hyperfine -N --style basic --warmup 1 --runs "$RUNS" --prepare "bash $W/prepare.sh" --export-json "$W/hyperfine.json" \
  -n "overdued scan" "$BIN scan --config $W/config.json" \
  -n "sqlite3 floor" "sqlite3 $W/state.sqlite '.read $W/floor.sql'" > "$W/hyperfine.out" 2>&1 \
  || { cat "$W/hyperfine.out" >&2; die "hyperfine failed (tick)"; }
t_ov=$(hf_median "$W/hyperfine.json" 1); t_sql=$(hf_median "$W/hyperfine.json" 2)
bash "$W/prepare.sh"; "$BIN" scan --config "$W/config.json" > /dev/null 2>&1
n_ov=$(sqlite3 "$W/state.sqlite" "SELECT count(*) FROM notification")
bash "$W/prepare.sh"; sqlite3 "$W/state.sqlite" ".read $W/floor.sql"
n_sql=$(sqlite3 "$W/state.sqlite" "SELECT count(*) FROM notification")
ratio=$(calc "round($t_ov / $t_sql, 2)")
row 1 "tick cost: scan enqueueing $n_ov of $N_TICK tickets (fresh state)" "$(calc "round($t_ov*1000)") ms" \
  "$(calc "round($t_sql*1000)") ms (sqlite3, $n_sql rows)" "$ratio" "≤ 1.5" "$(verdict "$ratio <= 1.5")" \
  "hyperfine, $RUNS runs, state database reset before each; the floor runs overdued's own WHERE clause plus the date test in SQL (julianday, America/Toronto taken as UTC-5), the two dedup lookups and the same two INSERTs with a json_object snapshot in one transaction"

# ======================================================================== 2. quiet tick
say "2. quiet tick: everything already notified"
QUIET_TARGET_N=$N_TICK
# quiet_state DIR TICKETS: a state database in which every match was notified (delivered).
quiet_state() {
  config "$1/config.json" "$2" "$1/state.sqlite"
  "$BIN" scan --config "$1/config.json" > /dev/null 2>&1
  sqlite3 "$1/state.sqlite" "UPDATE notification SET status = 'delivered', delivered_at = created_at, attempts = 1; PRAGMA wal_checkpoint(TRUNCATE);" > /dev/null
}
# daemon_tick DIR TICKETS_DB MODE: the daemon's own tick duration (log "in N ms"), median of 10
# SIGUSR1 ticks after the first. MODE quiet: nothing changes between ticks (the daemon may
# reuse its last result); MODE write: the app commits a change to the tickets database before
# each tick (one closed ticket's updated_at), so every tick reads and decides again.
daemon_tick() {
  "$BIN" run --config "$1/config.json" > /dev/null 2> "$1/daemon-$3.log" &
  local pid=$! log="$1/daemon-$3.log"
  track "$pid"
  local n0 i
  for i in $(seq 600); do grep -q 'enqueued in' "$log" && break; sleep 0.1; done
  for i in $(seq 10); do
    n0=$(grep -c 'enqueued in' "$log")
    if [ "$3" = write ]; then
      sqlite3 "$2" "UPDATE tickets SET updated_at = '2026-01-01 00:00:$(printf %02d "$i")' WHERE id = (SELECT min(id) FROM tickets WHERE status = 'archived')" \
        || die "app write to $2 failed"
    fi
    kill -USR1 "$pid"
    for _ in $(seq 600); do [ "$(grep -c 'enqueued in' "$log")" -gt "$n0" ] && break; sleep 0.05; done
    sleep 0.2
  done
  kill -TERM "$pid"; wait "$pid" 2>/dev/null
  grep -o 'enqueued in [0-9.]* ms' "$log" | tail -n 10 | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}
BIGGEST=""
declare -A QUIET_PROC QUIET_TICK WRITE_TICK QUIET_OVERDUE
for n in $SIZES; do
  dir=""
  if [ "$n" = 10000000 ] && [ ! -f "$CACHE/10000000/.complete" ]; then
    # Tried once; when generation takes longer than BENCH_MAX_GEN the attempt is remembered
    # (delete $CACHE/10000000.too-slow to try again) and the series stops at 3M.
    if [ -f "$CACHE/10000000.too-slow" ] || ! dir=$(demo_db 10000000 "$MAX_GEN"); then
      [ -f "$CACHE/10000000.too-slow" ] || echo "generating 10M tickets took more than ${MAX_GEN}s ($(date -u +%F))" > "$CACHE/10000000.too-slow"
      GEN_NOTE="10M not measured: $(cat "$CACHE/10000000.too-slow"); the series stops at 3M"
      say "$GEN_NOTE"
      n=3000000
      dir=$(demo_db 3000000) || die "cannot generate 3M tickets"
    fi
  else
    dir=$(demo_db "$n") || die "cannot generate $n tickets"
  fi
  BIGGEST=$n
  for variant in natural flat; do
    W="$OUT/quiet-$n-$variant"; mkdir -p "$W"
    if [ "$variant" = natural ]; then
      db="$dir/tickets.sqlite"
    else
      # The same open backlog at every size: the open tickets of the first 100,000; every
      # later ticket is closed history. Cost must follow the backlog, not the table.
      if [ "$n" = 100000 ]; then db="$dir/tickets.sqlite"
      else db="$(derived_db "$n-open100k" "$n" "UPDATE tickets SET status = 'completed' WHERE id > 100000 AND status NOT IN ('completed', 'archived'); PRAGMA journal_mode = WAL;")/tickets.sqlite" || die "cannot derive $n-open100k"; fi
    fi
    quiet_state "$W" "$db"
    QUIET_OVERDUE[$n-$variant]=$(sqlite3 "$W/state.sqlite" "SELECT count(*) FROM notification")
    hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$W/hyperfine.json" \
      -n "quiet scan $n $variant" "$BIN scan --config $W/config.json" > "$W/hyperfine.out" 2>&1 || die "hyperfine failed (quiet)"
    QUIET_PROC[$n-$variant]=$(calc "round($(hf_median "$W/hyperfine.json") * 1000, 1)")
    QUIET_TICK[$n-$variant]=$(daemon_tick "$W" "$db" quiet)
    WRITE_TICK[$n-$variant]=$(daemon_tick "$W" "$db" write)
  done
done
k="$QUIET_TARGET_N-natural"
row 2a "quiet tick at $QUIET_TARGET_N tickets (${QUIET_OVERDUE[$k]} overdue, all notified), nothing changed since the last tick: daemon tick" "${QUIET_TICK[$k]} ms" "—" "—" "≤ 20 ms" \
  "$(verdict "${QUIET_TICK[$k]} <= 20")" "the daemon's own tick (log 'in N ms'), median of 10 SIGUSR1 ticks; with the tickets database, the dedup state and the day's query unchanged and no due time or repeat.every expiry crossed, the tick returns its last result (TickCache)"
row 2b "quiet tick at $QUIET_TARGET_N, the app wrote to the tickets database before each tick: daemon tick (full read and decision)" "${WRITE_TICK[$k]} ms" "—" "—" "≤ 20 ms" \
  "$(verdict "${WRITE_TICK[$k]} <= 20")" "median of 10 SIGUSR1 ticks, each after a committed UPDATE of one closed ticket: SQLite drops its page cache and the rule's rows are read again ($QUIET_TARGET_N tickets: the open tickets' ids from the status index, less those the scheduled_date index shows not due, then a table seek for each of the rest)"
row 2c "quiet tick at $QUIET_TARGET_N: whole \`overdued scan\` process" "${QUIET_PROC[$k]} ms" "—" "—" "≤ 20 ms" \
  "$(verdict "${QUIET_PROC[$k]} <= 20")" "exec, config, open, tick, exit (hyperfine, $RUNS runs); a new process has no cache"
series_flat=""; series_nat=""
for n in $SIZES; do
  [ "$n" = 10000000 ] && [ "$BIGGEST" = 3000000 ] && n=3000000
  series_flat="$series_flat $(( n / 1000 ))k: ${WRITE_TICK[$n-flat]} ms (unchanged ${QUIET_TICK[$n-flat]} ms, process ${QUIET_PROC[$n-flat]} ms) ·"
  series_nat="$series_nat $(( n / 1000 ))k: ${WRITE_TICK[$n-natural]} ms after a write, ${QUIET_TICK[$n-natural]} ms unchanged (${QUIET_OVERDUE[$n-natural]} overdue) ·"
done
SMALL=$(echo $SIZES | cut -d' ' -f1)
flat_ratio=$(calc "round(max(${WRITE_TICK[$BIGGEST-flat]},1) / max(${WRITE_TICK[$SMALL-flat]},1), 2)")
row 2d "quiet tick after an app write, flat in table size, same open backlog (${QUIET_OVERDUE[$SMALL-flat]} overdue):${series_flat% ·}" \
  "${WRITE_TICK[$BIGGEST-flat]} ms at $(( BIGGEST / 1000 ))k" "${WRITE_TICK[$SMALL-flat]} ms at $(( SMALL / 1000 ))k" "$flat_ratio" "≤ 1.5 (flat)" \
  "$(verdict "$flat_ratio <= 1.5")" "every ticket after id 100,000 closed (completed): a bigger history, the same open tickets${GEN_NOTE:+; $GEN_NOTE}"
row 2e "quiet tick with the demo's 1 % overdue at each size:${series_nat% ·}" "—" "—" "—" "grows with overdue" "info" \
  "for information: the overdue count grows with the table here"

# ============================================================== 3. delivery throughput
say "3. delivery throughput: $N_DELIVER queued, min_interval 0ms"
TP_DIR=$(derived_db "deliver-$N_DELIVER" 100000 "UPDATE tickets SET status = 'completed'; UPDATE tickets SET status = 'received', assigned_to = (SELECT min(id) FROM users), scheduled_date = '2020-06-15 10:00:00', deleted_at = NULL WHERE id <= $N_DELIVER;") \
  || die "cannot derive the delivery database"
W="$OUT/deliver"; mkdir -p "$W"
config "$W/config.json" "$TP_DIR/tickets.sqlite" "$W/state.sqlite" '"min_interval": "0ms", "concurrency": 8'
reset_state "$W/state.sqlite"
"$BIN" scan --config "$W/config.json" > /dev/null 2>&1
sqlite3 "$W/state.sqlite" "PRAGMA wal_checkpoint(TRUNCATE)" > /dev/null
cp "$W/state.sqlite" "$W/queued.sqlite"
queued=$(sqlite3 "$W/queued.sqlite" "SELECT count(*) FROM notification WHERE status = 'pending'")
printf 'rm -f %s/state.sqlite %s/state.sqlite-wal %s/state.sqlite-shm; cp %s/queued.sqlite %s/state.sqlite\n' "$W" "$W" "$W" "$W" "$W" > "$W/prepare.sh"
# (a) the shell loop: per notification, sqlite3 picks the next due one, curl POSTs it,
# sqlite3 records the attempt and the new status in one transaction.
cat > "$W/loop.sh" <<'SH'
#!/usr/bin/env bash
# usage: loop.sh STATE URL COUNT
state=$1 url=$2 count=$3
for _ in $(seq "$count"); do
  row=$(sqlite3 -separator $'\x1f' "$state" "SELECT id, snapshot FROM notification WHERE destination = 'sink' AND status IN ('pending','retrying') AND next_attempt_at <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) ORDER BY next_attempt_at, created_at LIMIT 1")
  [ -z "$row" ] && break
  id=${row%%$'\x1f'*}; body=${row#*$'\x1f'}
  start=$(date +%s%3N)
  code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -H 'Content-Type: application/json' -H "webhook-id: $id" \
         -H "webhook-timestamp: ${start%???}" -H 'User-Agent: loop/1' --data-binary "$body" "$url")
  end=$(date +%s%3N)
  if [ "${code:0:1}" = 2 ]; then
    sqlite3 "$state" "PRAGMA synchronous = NORMAL; BEGIN; UPDATE notification SET status = 'delivered', delivered_at = $end, attempts = attempts + 1, last_http_status = $code WHERE id = '$id'; INSERT INTO delivery_attempt (notification_id, attempt, started_at, duration_ms, http_status, outcome) VALUES ('$id', 1, $start, $(( end - start )), $code, 'delivered'); COMMIT;"
  fi
done
SH
bash "$W/prepare.sh"
before=$(received)
t0=$(date +%s.%N)
bash "$W/loop.sh" "$W/state.sqlite" "$HOOK" "$N_LOOP"
t1=$(date +%s.%N)
loop_done=$(sqlite3 "$W/state.sqlite" "SELECT count(*) FROM notification WHERE status = 'delivered'")
loop_rate=$(calc "round($loop_done / ($t1 - $t0), 1)")
[ "$(( $(received) - before ))" = "$loop_done" ] || say "warning: the loop's receiver count differs"
BODY=$(sqlite3 "$W/queued.sqlite" "SELECT snapshot FROM notification LIMIT 1")
"$PY" - "$W/post.lua" "$BODY" <<'PY'
import sys
body = sys.argv[2].replace("\\", "\\\\").replace("]]", "] ]")
open(sys.argv[1], "w").write(f"""wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "msg_0123456789abcdef0123456789abcdef"
wrk.headers["webhook-timestamp"] = "1795600000"
wrk.headers["webhook-signature"] = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="
""")
PY
for c in $CONCURRENCY; do
  config "$W/config.json" "$TP_DIR/tickets.sqlite" "$W/state.sqlite" "\"min_interval\": \"0ms\", \"concurrency\": $c"
  before=$(received)
  hyperfine -N --style basic --runs 3 --prepare "bash $W/prepare.sh" --export-json "$W/hyperfine-$c.json" \
    -n "overdued once c$c" "$BIN once --config $W/config.json --max-wait 600s" > "$W/hyperfine-$c.out" 2>&1 || die "hyperfine failed (deliver)"
  got=$(( $(received) - before ))
  delivered=$(sqlite3 "$W/state.sqlite" "SELECT count(*) FROM notification WHERE status = 'delivered'")
  t=$(hf_median "$W/hyperfine-$c.json")
  rate=$(calc "round($queued / $t)")
  wrk -t2 -c"$c" -d"${WRK_SECONDS}s" -s "$W/post.lua" "$HOOK" > "$W/wrk-$c.out" 2>&1 || die "wrk failed"
  wrk_rate=$(awk '/Requests\/sec/ {printf "%d", $2}' "$W/wrk-$c.out")
  r_loop=$(calc "round($rate / $loop_rate, 1)"); r_wrk=$(calc "round($rate / $wrk_rate, 2)")
  note="3 runs of \`overdued once\` draining $queued queued (last run: $delivered delivered and recorded; receiver got $got over the 3 runs), signed legacy payloads"
  row "3a-c$c" "delivery, concurrency $c: delivered and recorded /s vs shell loop (sqlite3 + curl)" "$rate /s" "$loop_rate /s ($loop_done in loop)" "$r_loop×" "≥ 10×" "$(verdict "$r_loop >= 10")" "$note"
  row "3b-c$c" "delivery, concurrency $c: vs wrk -c$c on the same receiver" "$rate /s" "$wrk_rate /s (wrk)" "$r_wrk" "≥ 0.5" "$(verdict "$r_wrk >= 0.5")" \
    "wrk -t2 -c$c -d${WRK_SECONDS}s POSTing a same-size body to the same receiver"
done

# ==================================================================== 4. rate precision
say "4. rate precision at the default min_interval (200ms), $N_SPACING notifications"
SP_DIR=$(derived_db "deliver-$N_SPACING" 100000 "UPDATE tickets SET status = 'completed'; UPDATE tickets SET status = 'received', assigned_to = (SELECT min(id) FROM users), scheduled_date = '2020-06-15 10:00:00', deleted_at = NULL WHERE id <= $N_SPACING;") \
  || die "cannot derive the spacing database"
W="$OUT/spacing"; mkdir -p "$W"
config "$W/config.json" "$SP_DIR/tickets.sqlite" "$W/state.sqlite"
reset_state "$W/state.sqlite"
dump
"$BIN" once --config "$W/config.json" --max-wait 120s > "$W/once.out" 2>&1
dump
cp "$OUT/receiver.log" "$W/arrivals.log"
gj=$("$PY" "$HERE/measure.py" gaps "$W/arrivals.log")
g() { "$PY" -c "import json,sys; print(round(json.loads(sys.argv[1])['$1'], 1))" "$gj"; }
row 4a "rate precision: smallest spacing at the receiver ($(g n) arrivals)" "$(g min_ms) ms" "—" "—" "≥ 200 ms" "$(verdict "$(g min_ms) >= 200")" "arrival times taken by the receiver when a request is complete"
row 4b "rate precision: median spacing" "$(g median_ms) ms" "—" "—" "≤ 205 ms" "$(verdict "$(g median_ms) <= 205")" "max $(g max_ms) ms"

# ====================================================================== 5. footprint
say "5. footprint: idle overdued run beside prometheus-alertmanager, ${IDLE}s"
W="$OUT/footprint"; mkdir -p "$W/am"
FP_DIR=$(demo_db "$N_TICK")
quiet_state "$W" "$FP_DIR/tickets.sqlite"
AMBIN=$(command -v prometheus-alertmanager)
AMPORT=$(free_port)
cat > "$W/am/alertmanager.yml" <<YML
route:
  receiver: hook
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:$RPORT/alertmanager
YML
"$AMBIN" --config.file="$W/am/alertmanager.yml" --storage.path="$W/am/data" --web.listen-address="127.0.0.1:$AMPORT" \
  --cluster.listen-address= > "$W/am/out.log" 2>&1 &
AMPID=$!; track $AMPID
"$BIN" run --config "$W/config.json" > /dev/null 2> "$W/daemon.log" &
ODPID=$!; track $ODPID
for _ in $(seq 100); do grep -q 'tick:' "$W/daemon.log" && break; sleep 0.1; done
sleep 3
kill -0 $AMPID 2>/dev/null || die "alertmanager did not start: $(tail -3 "$W/am/out.log")"
ij=$("$PY" "$HERE/measure.py" idle "$IDLE" "overdued=$ODPID" "alertmanager=$AMPID")
kill -TERM $ODPID $AMPID; wait $ODPID $AMPID 2>/dev/null
j() { "$PY" -c "import json,sys; print(round(json.loads(sys.argv[1])['$1']['$2'], ${3:-1}))" "$ij"; }
am_version=$("$AMBIN" --version 2>&1 | head -1 | awk '{print $3}')
rss=$(j overdued rss_mb); am_rss=$(j alertmanager rss_mb)
row 5a "idle RSS of \`overdued run\` ($(( N_TICK / 1000 ))k tickets, after its first tick)" "$rss MB" "$am_rss MB (alertmanager $am_version)" \
  "$(calc "round($rss / $am_rss, 2)")" "≤ 15 MB" "$(verdict "$rss <= 15")" "VmRSS median over the idle window; overdued peak $(j overdued rss_max_mb) MB"
anon=$(j overdued anon_mb); am_anon=$(j alertmanager anon_mb)
row 5a-anon "idle anonymous memory (RssAnon: heap, stacks, written data), the part of 5a that is the process's own" "$anon MB" "$am_anon MB (alertmanager)" \
  "$(calc "round($anon / $am_anon, 2)")" "—" "info" "the rest of RSS is file pages of the binary and its libraries, mapped from the page cache"
cpu=$(j overdued cpu_s 3); am_cpu=$(j alertmanager cpu_s 3)
row 5b "CPU over ${IDLE} idle seconds" "$cpu s" "$am_cpu s (alertmanager)" "$(calc "round($cpu / max($am_cpu, 0.001), 2)")" "≈ 0 (≤ 0.06 s/60 s)" \
  "$(verdict "round($cpu * 100) <= round(6 * $IDLE / 60)")" "utime+stime from /proc/PID/stat (10 ms clock ticks, compared as whole ticks); schedule 5m, not aligned (no tick in the window)"
rj=$("$PY" "$HERE/measure.py" ready "$BIN" "$W/config.json" "$READY_RUNS")
r() { "$PY" -c "import json,sys; print(round(json.loads(sys.argv[1])['$1'], 1))" "$rj"; }
row 5c "exec → READY=1 (NOTIFY_SOCKET datagram listener)" "$(r exec_ready_ms) ms" "—" "—" "≤ 100 ms" "$(verdict "$(r exec_ready_ms) <= 100")" "median of $READY_RUNS starts"
row 5d "SIGHUP → READY=1" "$(r hup_ready_ms) ms" "—" "—" "≤ 50 ms" "$(verdict "$(r hup_ready_ms) <= 50")" "median of $READY_RUNS reloads"
echo "$rj" > "$W/ready.json"

# ========================================================================== the table
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo)
gen_times=""
for d in "$CACHE"/*/.generation-seconds; do [ -f "$d" ] && gen_times="$gen_times $(basename "$(dirname "$d")"): $(cat "$d") s,"; done
"$PY" - "$OUT/machine.json" <<PY
import json, sys
json.dump({"cpu": """$cpu_model""", "cores": "$(nproc)", "memory": "$mem", "os": """$(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)""",
           "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "binary": "${BIN#$ROOT/}, commit $COMMIT", "version": """$("$BIN" --version 2>&1 | head -1)""",
           "quick": $( [ "$QUICK" = 1 ] && echo True || echo False ),
           "tools": """hyperfine $(hyperfine --version | awk '{print $2}'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), sqlite3 $(sqlite3 --version | awk '{print $1}'), curl $(curl --version | head -1 | awk '{print $2}'), Python $("$PY" -c 'import platform; print(platform.python_version())'), prometheus-alertmanager $am_version""",
           "cache": "$CACHE", "data_note": "generation times (first run only):${gen_times%,}" + ("; $GEN_NOTE" if "$GEN_NOTE" else ""),
           "extra": ""}, open(sys.argv[1], "w"))
PY
render_table
