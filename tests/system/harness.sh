#!/usr/bin/env bash
# tests/system/harness.sh - a Debian 12 container with systemd as PID 1, for overdued's
# system test. Works where the host's PID 1 is not systemd (CI runners, containers):
# systemd-nspawn boots the rootfs, commands run inside through nsenter (no machined,
# no D-Bus on the host).
#
# Sourced by run.sh; also usable by hand (as root) to look around after a failure:
#   tests/system/harness.sh boot | exec CMD... | shell | teardown [--purge]
#
# Environment (optional):
#   OVERDUED_TEST_DIR  cache + state dir  (default ${TMPDIR:-/tmp}/overdued-systemd-test)
#   OVERDUED_TEST_MIRROR  Debian mirror   (default: the host's bookworm source, else deb.debian.org)
#   OVERDUED_TEST_NAME  container name    (default overdued-test)
#   OVERDUED_TEST_NSPAWN_ARGS  extra systemd-nspawn arguments, e.g. to try a debug build
#                       that links the toolchain's runtime: --bind-ro=/opt/swift/usr/lib/swift/linux
set -euo pipefail

H_DIR=${OVERDUED_TEST_DIR:-${TMPDIR:-/tmp}/overdued-systemd-test}
H_NAME=${OVERDUED_TEST_NAME:-overdued-test}
H_SUITE=bookworm
# What the checks need inside: systemd, /bin/kill (procps), the binary's runtime libraries
# (glibc, libstdc++, zlib, libsqlite3, libsystemd; --static-swift-stdlib covers Swift;
# tzdata for IANA zones, ca-certificates for https destinations), jq to read
# `journalctl -o json`, sqlite3 to play the app that holds the tickets database open.
H_PACKAGES=systemd,systemd-sysv,dbus,procps,libsqlite3-0,libsystemd0,libstdc++6,zlib1g,ca-certificates,tzdata,jq,sqlite3
H_ROOTFS=$H_DIR/rootfs
H_STAMP=$H_DIR/rootfs.ok
H_PIDFILE=$H_DIR/nspawn.pid
H_LOG=$H_DIR/nspawn.log
H_CGROUP=overdued-test-$H_NAME
H_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

h_log() { printf '# %s\n' "$*" >&2; }
h_die() { h_log "ERROR: $*"; exit 1; }

h_deps() {
    [ "$(id -u)" = 0 ] || h_die "the system test needs root (systemd-nspawn)"
    local missing=()
    command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    command -v nsenter >/dev/null || missing+=(util-linux)
    [ ${#missing[@]} -eq 0 ] && return 0
    h_log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # no recommends: libnss-mymachines would edit the host's /etc/nsswitch.conf
    local try
    for try in 1 2 3; do
        apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null && return 0
        h_log "apt-get failed (try $try of 3)"
        sleep $((try * 20))
    done
    h_die "could not install ${missing[*]}"
}

h_mirror() {
    [ -n "${OVERDUED_TEST_MIRROR:-}" ] && { echo "$OVERDUED_TEST_MIRROR"; return; }
    local m
    # deb822 sources: the URIs of the stanza whose Suites include bookworm
    m=$(awk 'BEGIN{RS=""} /(^|\n)Types:[^\n]*deb([ \n]|$)/ && /(^|\n)Suites:[^\n]*bookworm([ \n]|$)/ {
            if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { s = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", s); print s; exit } }' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -z "$m" ] && m=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == "bookworm") { print $i; exit } }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    echo "${m:-http://deb.debian.org/debian}"
}

# Bootstrap the rootfs once; later runs reuse it (rebuilt when H_PACKAGES changes).
h_build() {
    if [ -f "$H_STAMP" ] && [ "$(cat "$H_STAMP")" = "$H_PACKAGES" ] && [ -x "$H_ROOTFS/lib/systemd/systemd" ]; then
        return 0
    fi
    mkdir -p "$H_DIR"
    rm -rf --one-file-system "$H_ROOTFS" "$H_STAMP"
    local mirror t0=$SECONDS
    mirror=$(h_mirror)
    h_log "bootstrapping Debian $H_SUITE from $mirror into $H_ROOTFS (once; cached)"
    # Three tries: a mirror's hiccup must not fail the run.
    local try
    for try in 1 2 3; do
        mmdebstrap --mode=root --variant=minbase --include="$H_PACKAGES" \
            "$H_SUITE" "$H_ROOTFS" "$mirror" >"$H_DIR/bootstrap.log" 2>&1 && break
        tail -20 "$H_DIR/bootstrap.log" >&2
        [ "$try" = 3 ] && h_die "mmdebstrap failed three times (log: $H_DIR/bootstrap.log)"
        h_log "mmdebstrap failed (try $try of 3); again in $((try * 20)) s"
        rm -rf --one-file-system "$H_ROOTFS"
        sleep $((try * 20))
    done
    local r=$H_ROOTFS u
    rm -f "$r/etc/hostname" "$r"/var/cache/apt/archives/*.deb
    [ -s "$r/etc/machine-id" ] || tr -d '-' </proc/sys/kernel/random/uuid >"$r/etc/machine-id"
    # quiet, deterministic boot
    for u in console-getty.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
             e2scrub_all.timer fstrim.timer systemd-tmpfiles-clean.timer; do
        ln -sfn /dev/null "$r/etc/systemd/system/$u"
    done
    mkdir -p "$r/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\nRateLimitIntervalSec=0\n' >"$r/etc/systemd/journald.conf.d/50-test.conf"
    echo "$H_PACKAGES" >"$H_STAMP"
    h_log "rootfs ready in $((SECONDS - t0))s"
}

h_alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

h_nspawn_pid() {
    local p
    p=$(cat "$H_PIDFILE" 2>/dev/null) || return 1
    [ -n "$p" ] && h_alive "$p" && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd-nspawn ] && echo "$p"
}

# host PID of the container's PID 1 (systemd)
h_leader() {
    local np c
    np=$(h_nspawn_pid) || return 1
    for c in $(cat /proc/"$np"/task/*/children 2>/dev/null); do
        [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] || continue
        awk '/^NSpid:/ { exit ($NF == 1 ? 0 : 1) }' "/proc/$c/status" 2>/dev/null && { echo "$c"; return 0; }
    done
    return 1
}

# run a command inside the container (all namespaces, clean environment); exit code passes through
h_exec() {
    local l
    l=$(h_leader) || h_die "container $H_NAME is not running"
    nsenter -t "$l" -a -r -w env -i PATH="$H_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb \
        SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 "$@"
}

# cgroups: nspawn gets a cgroup of its own (it must not create its sub-cgroups in the
# host's root cgroup, and they have to be removable at teardown)
h_cg_dirs() {
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        echo "/sys/fs/cgroup/$H_CGROUP"
    else
        [ -d /sys/fs/cgroup/systemd ] && echo "/sys/fs/cgroup/systemd/$H_CGROUP"
        [ -d /sys/fs/cgroup/unified ] && echo "/sys/fs/cgroup/unified/$H_CGROUP"
    fi
    return 0
}
h_cg_cleanup() {
    local d
    for d in $(h_cg_dirs); do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
}

# Boot with a throwaway overlay on the cached rootfs: every run starts pristine.
# --private-network: the container has its own loopback only, so its 127.0.0.1:8787 is
# not the host's (where a developer's `overdued sink` may be listening).
h_boot() {
    h_leader >/dev/null && { h_log "container $H_NAME already running"; return 0; }
    h_nspawn_pid >/dev/null && h_teardown
    h_cg_cleanup
    (
        local d
        for d in $(h_cg_dirs); do mkdir -p "$d" && echo "$BASHPID" >"$d/cgroup.procs" || true; done
        # do not hand the caller's extra fds (CI pipes) to the container
        for d in /proc/$BASHPID/fd/*; do d=${d##*/}; [ "$d" -gt 2 ] && eval "exec $d>&-" 2>/dev/null; done
        exec setsid systemd-nspawn --quiet -D "$H_ROOTFS" -M "$H_NAME" --boot --register=no \
            --keep-unit --console=read-only --link-journal=no --volatile=overlay \
            --private-network ${OVERDUED_TEST_NSPAWN_ARGS:-}
    ) </dev/null >"$H_LOG" 2>&1 &
    echo $! >"$H_PIDFILE"
    local st="" deadline=$((SECONDS + 90))
    while [ $SECONDS -lt $deadline ]; do
        h_alive "$(cat "$H_PIDFILE")" || { tail -30 "$H_LOG" >&2; h_die "systemd-nspawn exited during boot (log: $H_LOG)"; }
        if h_leader >/dev/null; then
            st=$(h_exec systemctl is-system-running 2>/dev/null || true)
            case $st in running | degraded) break ;; esac
        fi
        sleep 0.2
    done
    case $st in
    running) ;;
    degraded) h_log "container degraded; failed units:"; h_exec systemctl --failed --no-legend >&2 || true ;;
    *) tail -30 "$H_LOG" >&2; h_die "container did not boot within 90 s (state '${st:-none}')" ;;
    esac
    h_log "container $H_NAME up ($(h_exec systemctl --version | head -1))"
}

h_teardown() {
    local np l
    if np=$(h_nspawn_pid); then
        l=$(h_leader || true)
        kill -TERM "$np" 2>/dev/null || true   # nspawn: orderly poweroff of the container
        local deadline=$((SECONDS + 20))
        while h_alive "$np" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
        if h_alive "$np"; then
            h_log "container did not power off; killing it"
            [ -n "$l" ] && kill -KILL "$l" 2>/dev/null || true
            sleep 0.5
            kill -KILL "$np" 2>/dev/null || true
            while h_alive "$np"; do sleep 0.1; done
        fi
    fi
    rm -f "$H_PIDFILE"
    sleep 0.2
    h_cg_cleanup
    rmdir "/run/systemd/nspawn/propagate/$H_NAME" /run/systemd/nspawn/propagate \
        /run/systemd/nspawn/locks /run/systemd/nspawn 2>/dev/null || true
    if [ "${1:-}" = --purge ]; then rm -rf --one-file-system "$H_ROOTFS" "$H_STAMP"; fi
    return 0
}

# copy a host file to an exact path inside (temp + rename: works over a running binary)
h_put() {
    local src=$1 dst=$2 mode=${3:-}
    [ -n "$mode" ] || mode=$(stat -c %a "$src")
    h_exec sh -c 'set -e; mkdir -p "$(dirname "$1")"; t="$1.tmp.$$"; cat >"$t"; chmod "$2" "$t"; mv -f "$t" "$1"' \
        sh "$dst" "$mode" <"$src"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    cmd=${1:-}
    shift || true
    case $cmd in
    boot) h_deps; h_build; h_boot ;;
    exec) h_exec "$@" ;;
    shell) h_exec bash -l ;;
    teardown) h_teardown "$@" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
fi
