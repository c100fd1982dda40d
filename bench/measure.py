#!/usr/bin/env python3
"""Measurement helpers for bench/run.sh (python3 standard library only).
  measure.py ready BIN CONFIG RUNS             exec -> READY=1 and SIGHUP -> READY=1 over a real
                                               Unix datagram NOTIFY_SOCKET; prints JSON
  measure.py idle SECONDS NAME=PID...          RSS (VmRSS) and CPU (utime+stime from
                                               /proc/PID/stat) over SECONDS; prints JSON
  measure.py gaps LOG                          spacing of consecutive arrivals; prints JSON
  measure.py hyperfine JSON                    median seconds of each command, one per line
  measure.py render RESULTS.tsv MACHINE.json OUT.md   prints the table, writes BENCHMARKS.md"""
import json, os, signal, socket, statistics, subprocess, sys, tempfile, time


def ready(binary, config, runs):
    boot, reload_ = [], []
    tmp = tempfile.mkdtemp(prefix="overdued-ready-")
    for i in range(runs):
        path = os.path.join(tmp, f"notify-{i}.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(10)
        env = dict(os.environ, NOTIFY_SOCKET=path)
        env.pop("WATCHDOG_USEC", None)

        def wait_ready():
            while True:
                msg = s.recv(65536).decode(errors="replace")
                if "READY=1" in msg.split("\n"):
                    return time.perf_counter()

        t0 = time.perf_counter()
        p = subprocess.Popen([binary, "run", "--config", config], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        boot.append((wait_ready() - t0) * 1000)
        time.sleep(0.3)  # let the first tick pass, as a real reload would find it
        t1 = time.perf_counter()
        p.send_signal(signal.SIGHUP)
        reload_.append((wait_ready() - t1) * 1000)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        s.close()
        os.unlink(path)
    os.rmdir(tmp)
    print(json.dumps({"exec_ready_ms": statistics.median(boot), "hup_ready_ms": statistics.median(reload_),
                      "exec_ready_all": [round(x, 1) for x in boot], "hup_ready_all": [round(x, 1) for x in reload_]}))


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle(seconds, pairs):
    pids = dict(p.split("=", 1) for p in pairs)
    start = {n: cpu_seconds(p) for n, p in pids.items()}
    rss = {n: [] for n in pids}
    anon = {n: [] for n in pids}
    end = time.time() + seconds
    while time.time() < end:
        for n, p in pids.items():
            rss[n].append(rss_mb(p))
            anon[n].append(rss_mb(p, "RssAnon"))
        time.sleep(1)
    out = {n: {"cpu_s": cpu_seconds(p) - start[n], "rss_mb": statistics.median(rss[n]), "rss_max_mb": max(rss[n]),
               "anon_mb": statistics.median(anon[n])}
           for n, p in pids.items()}
    print(json.dumps(out))


def gaps(log):
    t = sorted(float(l.split()[0]) for l in open(log) if l.strip())
    g = [(b - a) * 1000 for a, b in zip(t, t[1:])]
    print(json.dumps({"n": len(t), "min_ms": min(g), "median_ms": statistics.median(g), "max_ms": max(g),
                      "below_200": sum(1 for x in g if x < 200)}))


def hyperfine(path):
    for r in json.load(open(path))["results"]:
        print(r["median"])


def render(results, machine, out):
    m = json.load(open(machine))
    rows = [l.rstrip("\n").split("\t") for l in open(results) if l.strip()]
    head = ["#", "measure", "overdued", "baseline", "ratio", "target", "result"]
    table = [head] + [r[:7] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    notes = [(r[0], r[7]) for r in rows if len(r) > 7 and r[7]]
    md = [
        "# Benchmarks",
        "",
        "Written by `bench/run.sh` (`make bench`); every figure below was measured in the same run.",
        "Medians unless said otherwise; ratios are overdued ÷ baseline (times: lower is better;",
        "rates: higher is better).",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory']} memory, {m['os']}",
        f"- date: {m['date']}",
        f"- binary: `{m['binary']}` ({m['version']}){' — QUICK MODE (smaller N, fewer runs)' if m.get('quick') else ''}",
        f"- tools: {m['tools']}",
        f"- data: `overdued demo --tickets N` (1 % overdue), cached in {m['cache']}; {m['data_note']}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    md += ["| " + " | ".join(c.replace("|", "\\|") for c in r[:7]) + " |" for r in rows]
    missed = [r for r in rows if r[6].startswith("gap")]
    md += ["", f"{len(rows)} rows; {sum(1 for r in rows if r[6] == 'met')} targets met, {len(missed)} missed, "
               f"{sum(1 for r in rows if r[6] == 'info')} informational.", ""]
    if notes:
        md += ["## Notes", ""] + [f"- **{k}**: {v}" for k, v in notes] + [""]
    if m.get("extra"):
        md += [open(m["extra"]).read()]
    open(out, "w").write("\n".join(md))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "ready":
        ready(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "idle":
        idle(float(sys.argv[2]), sys.argv[3:])
    elif cmd == "gaps":
        gaps(sys.argv[2])
    elif cmd == "hyperfine":
        hyperfine(sys.argv[2])
    elif cmd == "render":
        render(sys.argv[2], sys.argv[3], sys.argv[4])
