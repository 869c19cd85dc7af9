#!/usr/bin/env python3
"""Formats the records scripts/bench.sh collects.

  report.py pair  RUNS SCENARIO WORKERS CONNS PAIR   one line for a finished A/B pair
  report.py final RUNS RSS OUT_CSV SUMMARY_CSV        medians, RSS, CSV files, markdown table

RUNS and RSS hold one record per line, `key=value` tokens separated by spaces.
"""
import csv
import statistics
import sys

PROXIES = ("nginx", "sluice")


def load(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = {}
                for tok in line.split():
                    k, _, v = tok.partition("=")
                    rec[k] = v
                out.append(rec)
    except FileNotFoundError:
        pass
    return out


def num(rec, key, default=0.0):
    try:
        return float(rec.get(key, default))
    except ValueError:
        return default


def derive(rec):
    """Adds req/s, CPU us/request, latencies in ms and an error count to one run record."""
    requests = num(rec, "requests")
    dur = num(rec, "duration_us") / 1e6
    hz = num(rec, "clk_tck", 100.0) or 100.0
    rec["rps"] = requests / dur if dur > 0 else 0.0
    crashed = int(num(rec, "crashed"))
    per_req = (lambda key: (num(rec, key) / hz * 1e6 / requests)
               if requests > 0 and key in rec and num(rec, key) >= 0 and not crashed else float("nan"))
    rec["cpu_us_req"] = per_req("cpu_ticks")
    rec["backend_us_req"] = per_req("backend_ticks")
    rec["machine_us_req"] = per_req("machine_busy_ticks")
    # wrk's own CPU (the load generator shares the cores: with the backend it can bound req/s).
    wrk_us = num(rec, "wrk_cpu_us", -1)
    rec["wrk_us_req"] = wrk_us / requests if requests > 0 and wrk_us >= 0 and not crashed else float("nan")
    # How busy the proxy kept the cores of its workers: near 100 % it is what limits req/s; well
    # below, it waited for wrk and the backend (or for a core).
    workers = num(rec, "workers", 1.0) or 1.0
    rec["proxy_busy_pct"] = rec["cpu_us_req"] * rec["rps"] / 1e6 / workers * 100.0
    busy, idle = num(rec, "machine_busy_ticks", -1), num(rec, "machine_idle_ticks", -1)
    rec["idle_pct"] = 100.0 * idle / (busy + idle) if busy >= 0 and idle >= 0 and busy + idle > 0 else float("nan")
    # A run without latencies (wrk failed, the proxy crashed) has none, not zero ones.
    rec["p50_ms"] = num(rec, "p50_us") / 1000.0 if "p50_us" in rec and requests > 0 else float("nan")
    rec["p99_ms"] = num(rec, "p99_us") / 1000.0 if "p99_us" in rec and requests > 0 else float("nan")
    # Context switches of the proxy per request: it slept (voluntary) or lost its core (involuntary).
    for key in ("vol_switches", "invol_switches"):
        rec[key + "_req"] = (num(rec, key) / requests) if requests > 0 and key in rec and not crashed else float("nan")
    rec["non2xx"] = int(num(rec, "err_status"))
    rec["sock_err"] = int(sum(num(rec, k) for k in ("err_connect", "err_read", "err_write", "err_timeout")))
    rec["crashed"] = int(num(rec, "crashed"))
    return rec


def err_text(rec):
    parts = []
    if rec["non2xx"]:
        parts.append("non2xx=%d" % rec["non2xx"])
    if rec["sock_err"]:
        parts.append("sock(c/r/w/t)=%d/%d/%d/%d" % tuple(int(num(rec, k)) for k in
                                                      ("err_connect", "err_read", "err_write", "err_timeout")))
    if rec["crashed"]:
        parts.append("CRASHED(%s)" % rec.get("exit", "?"))
    if num(rec, "wrk_rc"):
        parts.append("wrk_rc=%s" % rec.get("wrk_rc"))
    return ",".join(parts)


def ratio(a, b):
    return a / b if b and b == b and a == a else float("nan")


def group_runs(runs):
    """{(scenario, workers, conns): {pair: {proxy: rec}}}"""
    groups = {}
    for r in runs:
        key = (r["scenario"], int(r["workers"]), int(r["conns"]))
        groups.setdefault(key, {}).setdefault(int(r["pair"]), {})[r["proxy"]] = r
    return groups


def pair_line(runs, scenario, workers, conns, pair):
    g = group_runs(runs).get((scenario, int(workers), int(conns)), {}).get(int(pair), {})
    if not all(p in g for p in PROXIES):
        return "  pair %s: incomplete" % pair
    n, s = g["nginx"], g["sluice"]
    errs = []
    for name, r in (("nginx", n), ("sluice", s)):
        t = err_text(r)
        if t:
            errs.append("%s:%s" % (name, t))
    return ("  %-8s w%d c%-3d pair %-2s  CPU us/req nginx %6.2f sluice %6.2f  nginx/sluice %5.2f | "
            "req/s nginx %8.0f sluice %8.0f  sluice/nginx %5.2f | p50 %6.2f/%6.2f ms  p99 %6.2f/%6.2f ms | "
            "machine us/req %6.2f/%6.2f idle %4.1f/%4.1f%% | switches/req %.2f+%.2f/%.2f+%.2f%s"
            % (scenario, int(workers), int(conns), pair, n["cpu_us_req"], s["cpu_us_req"],
               ratio(n["cpu_us_req"], s["cpu_us_req"]), n["rps"], s["rps"], ratio(s["rps"], n["rps"]),
               n["p50_ms"], s["p50_ms"], n["p99_ms"], s["p99_ms"], n["machine_us_req"], s["machine_us_req"],
               n["idle_pct"], s["idle_pct"], n["vol_switches_req"], n["invol_switches_req"],
               s["vol_switches_req"], s["invol_switches_req"],
               ("  ERRORS " + " ".join(errs)) if errs else ""))


def med(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def won(row, figure):
    """'(k/n)': the pairs of a summary row in which Sluice did better on one figure."""
    return "(%d/%d)" % (row[figure + "_pairs_sluice_better"], row[figure + "_pairs_compared"])


def fmt(v, digits=2):
    return "n/a" if v != v else ("%.*f" % (digits, v))


def final(runs_path, rss_path, out_csv, summary_csv):
    runs = [derive(r) for r in load(runs_path)]
    rss = load(rss_path)
    groups = group_runs(runs)

    # Per-run CSV.
    cols = ["scenario", "workers", "conns", "pair", "proxy", "requests", "duration_s", "req_per_s", "p50_ms",
            "p99_ms", "cpu_ticks", "cpu_us_per_req", "backend_us_per_req", "wrk_us_per_req", "machine_busy_us_per_req",
            "machine_idle_pct", "proxy_busy_pct", "vol_switches_per_req", "invol_switches_per_req", "non2xx", "err_connect", "err_read", "err_write",
            "err_timeout", "crashed", "rss_kb_after", "peak_rss_kb_after"]
    with open(out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in runs:
            w.writerow([r["scenario"], r["workers"], r["conns"], r["pair"], r["proxy"], int(num(r, "requests")),
                        "%.3f" % (num(r, "duration_us") / 1e6), "%.1f" % r["rps"], "%.3f" % r["p50_ms"],
                        "%.3f" % r["p99_ms"], int(num(r, "cpu_ticks")), "%.3f" % r["cpu_us_req"],
                        "%.3f" % r["backend_us_req"], "%.3f" % r["wrk_us_req"], "%.3f" % r["machine_us_req"], "%.1f" % r["idle_pct"],
                        "%.1f" % r["proxy_busy_pct"], "%.3f" % r["vol_switches_req"],
                        "%.3f" % r["invol_switches_req"], r["non2xx"],
                        int(num(r, "err_connect")), int(num(r, "err_read")), int(num(r, "err_write")),
                        int(num(r, "err_timeout")), r["crashed"], int(num(r, "rss_kb")), int(num(r, "hwm_kb"))])

    def rss_of(scenario, workers, proxy, key):
        vals = [int(num(x, key)) for x in rss if x.get("scenario") == scenario and int(x.get("workers", -1)) == workers
                and x.get("proxy") == proxy and key in x]
        return max(vals) if vals else None

    rows = []
    for (scenario, workers, conns), pairs in groups.items():
        complete = [p for p in pairs.values() if all(x in p for x in PROXIES)]
        row = {"scenario": scenario, "workers": workers, "conns": conns, "pairs": len(complete)}
        for proxy in PROXIES:
            rs = [p[proxy] for p in complete]
            row[proxy + "_cpu_us_per_req"] = med([r["cpu_us_req"] for r in rs])
            row[proxy + "_req_per_s"] = med([r["rps"] for r in rs])
            row[proxy + "_p50_ms"] = med([r["p50_ms"] for r in rs])
            row[proxy + "_p99_ms"] = med([r["p99_ms"] for r in rs])
            row[proxy + "_backend_us_per_req"] = med([r["backend_us_req"] for r in rs])
            row[proxy + "_wrk_us_per_req"] = med([r["wrk_us_req"] for r in rs])
            row[proxy + "_machine_busy_us_per_req"] = med([r["machine_us_req"] for r in rs])
            row[proxy + "_machine_idle_pct"] = med([r["idle_pct"] for r in rs])
            row[proxy + "_proxy_busy_pct"] = med([r["proxy_busy_pct"] for r in rs])
            row[proxy + "_vol_switches_per_req"] = med([r["vol_switches_req"] for r in rs])
            row[proxy + "_invol_switches_per_req"] = med([r["invol_switches_req"] for r in rs])
            row[proxy + "_non2xx"] = sum(r["non2xx"] for r in rs)
            row[proxy + "_socket_errors"] = sum(r["sock_err"] for r in rs)
            row[proxy + "_crashes"] = sum(r["crashed"] for r in rs)
            row[proxy + "_peak_rss_kb"] = rss_of(scenario, workers, proxy, "hwm_kb")
            row[proxy + "_idle_rss_kb"] = rss_of(scenario, workers, proxy, "idle_rss_kb")
            row[proxy + "_idle_open_end"] = rss_of(scenario, workers, proxy, "idle_open")
            row[proxy + "_idle_closed_by_peer"] = rss_of(scenario, workers, proxy, "idle_closed")
        # Paired figures: the median of the per-pair ratios.
        row["cpu_ratio_nginx_over_sluice"] = med([ratio(p["nginx"]["cpu_us_req"], p["sluice"]["cpu_us_req"])
                                                  for p in complete])
        row["rps_ratio_sluice_over_nginx"] = med([ratio(p["sluice"]["rps"], p["nginx"]["rps"]) for p in complete])
        row["p99_ratio_nginx_over_sluice"] = med([ratio(p["nginx"]["p99_ms"], p["sluice"]["p99_ms"]) for p in complete])
        # How many pairs Sluice came out ahead in (a tie counts for neither), of the pairs where
        # both have the figure: a median of 0.97 from 2 of 5 pairs is a tie, from 0 of 5 a loss.
        for figure, key, sluice_better in (("cpu", "cpu_us_req", lambda s, n: s < n),
                                           ("rps", "rps", lambda s, n: s > n),
                                           ("p99", "p99_ms", lambda s, n: s < n)):
            both = [(p["sluice"][key], p["nginx"][key]) for p in complete
                    if p["sluice"][key] == p["sluice"][key] and p["nginx"][key] == p["nginx"][key]]
            row[figure + "_pairs_sluice_better"] = sum(1 for s, n in both if sluice_better(s, n))
            row[figure + "_pairs_compared"] = len(both)
        rows.append(row)

    if rows:
        keys = list(rows[0].keys())
        with open(summary_csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            for row in rows:
                w.writerow({k: (("%.3f" % v) if isinstance(v, float) else ("" if v is None else v))
                            for k, v in row.items()})

    print("\n== Medians per scenario (median of %s pairs; ratios are medians of per-pair ratios; in brackets the"
          " pairs Sluice did better in)" % ("/".join(sorted({str(r["pairs"]) for r in rows})) or "0"))
    for row in rows:
        print("  %-8s w%d c%-3d  CPU us/req nginx %6.2f sluice %6.2f  nginx/sluice %5.2f %-7s| req/s nginx %8.0f "
              "sluice %8.0f  sluice/nginx %5.2f %-7s| p50 %6.2f/%6.2f ms  p99 %6.2f/%6.2f ms  nginx/sluice %5.2f %s"
              % (row["scenario"], row["workers"], row["conns"], row["nginx_cpu_us_per_req"],
                 row["sluice_cpu_us_per_req"], row["cpu_ratio_nginx_over_sluice"], won(row, "cpu"),
                 row["nginx_req_per_s"], row["sluice_req_per_s"], row["rps_ratio_sluice_over_nginx"], won(row, "rps"),
                 row["nginx_p50_ms"], row["sluice_p50_ms"], row["nginx_p99_ms"], row["sluice_p99_ms"],
                 row["p99_ratio_nginx_over_sluice"], won(row, "p99")))

    print("\n== Where the machine's CPU went (medians; behind nginx / behind Sluice): the backend's and wrk's CPU per"
          " request (at 1 worker on 2 cores, the two together can bound req/s: they often share a core),"
          " the whole machine's busy CPU per request (proxy + backend + wrk + the rest), its idle share, and the"
          " proxy's own busy share of its workers' cores (near 100 %: the proxy is what limits req/s), and the"
          " proxy's context switches per request, voluntary (it slept) + involuntary (it lost its core)")
    for row in rows:
        print("  %-8s w%d c%-3d  backend us/req %6.2f / %6.2f | wrk us/req %6.2f / %6.2f | machine busy us/req %6.2f / %6.2f | idle %5.1f%% / %5.1f%%"
              " | proxy busy %5.1f%% / %5.1f%% | switches/req %.3f+%.3f / %.3f+%.3f"
              % (row["scenario"], row["workers"], row["conns"], row["nginx_backend_us_per_req"],
                 row["sluice_backend_us_per_req"], row["nginx_wrk_us_per_req"], row["sluice_wrk_us_per_req"],
                 row["nginx_machine_busy_us_per_req"],
                 row["sluice_machine_busy_us_per_req"], row["nginx_machine_idle_pct"], row["sluice_machine_idle_pct"],
                 row["nginx_proxy_busy_pct"], row["sluice_proxy_busy_pct"], row["nginx_vol_switches_per_req"],
                 row["nginx_invol_switches_per_req"], row["sluice_vol_switches_per_req"],
                 row["sluice_invol_switches_per_req"]))

    print("\n== Peak RSS (VmHWM; nginx = master + workers), per proxy start")
    seen = set()
    for x in rss:
        key = (x.get("scenario"), x.get("workers"))
        if key in seen:
            continue
        seen.add(key)
        line = "  %-8s w%s" % key
        for proxy in PROXIES:
            hw = rss_of(x["scenario"], int(x["workers"]), proxy, "hwm_kb")
            idle = rss_of(x["scenario"], int(x["workers"]), proxy, "idle_rss_kb")
            line += "  %s peak %s" % (proxy, ("%.1f MiB" % (hw / 1024)) if hw is not None else "n/a")
            if idle is not None:
                line += " (RSS with idle conns before load %.1f MiB, idle open at end %s, closed by peer %s)" % (
                    idle / 1024, rss_of(x["scenario"], int(x["workers"]), proxy, "idle_open"),
                    rss_of(x["scenario"], int(x["workers"]), proxy, "idle_closed"))
        print(line)

    bad = [r for r in runs if r["non2xx"] or r["sock_err"] or r["crashed"] or num(r, "wrk_rc")]
    print("\n== Errors")
    if not bad:
        print("  none: every run completed with 2xx responses only, no socket errors, no crash")
    for r in bad:
        print("  %s w%s c%s pair %s %s: %s (of %d requests)" % (r["scenario"], r["workers"], r["conns"], r["pair"],
                                                               r["proxy"], err_text(r), int(num(r, "requests"))))

    print("\n== Markdown (paste into the README)\n")
    print("| scenario | workers | conns | CPU µs/req nginx | CPU µs/req Sluice | CPU nginx/Sluice (paired) | req/s nginx |"
          " req/s Sluice | req/s Sluice/nginx (paired) | p50 ms nginx / Sluice | p99 ms nginx / Sluice |"
          " p99 nginx/Sluice (paired) | peak RSS MiB nginx / Sluice | errors nginx / Sluice |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        def mib(v):
            return "n/a" if v is None else "%.1f" % (v / 1024)
        def errs(p):
            n = row[p + "_non2xx"] + row[p + "_socket_errors"] + row[p + "_crashes"]
            return "0" if n == 0 else "%d non-2xx, %d socket, %d crash" % (
                row[p + "_non2xx"], row[p + "_socket_errors"], row[p + "_crashes"])
        print("| %s | %d | %d | %s | %s | **%s** %s | %s | %s | **%s** %s | %s / %s | %s / %s | **%s** %s | %s / %s |"
              " %s / %s |"
              % (row["scenario"], row["workers"], row["conns"], fmt(row["nginx_cpu_us_per_req"], 1),
                 fmt(row["sluice_cpu_us_per_req"], 1), fmt(row["cpu_ratio_nginx_over_sluice"]), won(row, "cpu"),
                 fmt(row["nginx_req_per_s"], 0), fmt(row["sluice_req_per_s"], 0),
                 fmt(row["rps_ratio_sluice_over_nginx"]), won(row, "rps"), fmt(row["nginx_p50_ms"]),
                 fmt(row["sluice_p50_ms"]), fmt(row["nginx_p99_ms"]), fmt(row["sluice_p99_ms"]),
                 fmt(row["p99_ratio_nginx_over_sluice"]), won(row, "p99"),
                 mib(row["nginx_peak_rss_kb"]),
                 mib(row["sluice_peak_rss_kb"]), errs("nginx"), errs("sluice")))
    print("\nMedians over the pairs of one run; *(paired)* = median of the per-pair ratios, followed by the number"
          " of pairs in which Sluice did better (3/5: in 3 of 5 pairs). CPU µs/req = the proxy's"
          " utime+stime (all processes/threads) per completed request. Every paired ratio is > 1 where Sluice does"
          " better. Peak RSS = VmHWM (nginx: master + workers).")
    # Exit status: only Sluice's errors count; the reference's are reported above.
    return 1 if any(r["proxy"] == "sluice" for r in bad) else 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "pair" and len(sys.argv) == 7:
        runs = [derive(r) for r in load(sys.argv[2])]
        print(pair_line(runs, *sys.argv[3:7]))
        return 0
    if len(sys.argv) >= 2 and sys.argv[1] == "final" and len(sys.argv) == 6:
        return final(*sys.argv[2:6])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
