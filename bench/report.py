"""The figures of a scenario as a table on the terminal, and as Markdown for the READMEs."""

from __future__ import annotations

import statistics

from bench.common import GIB, MIB, mib, say
from bench.results import SCRIPT_ALONE, RunResult, ScenarioResult

GOAL_READ_RATIO = 1.0
GOAL_PEAK_MIB = 256
GOAL_ACTIVITY_SECONDS = 300
GOAL_STATUS_SECONDS = 60  # issue 9: the status moves at least this often while bytes move
DEFAULT_UNIT_BYTES = 4 * GIB


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


OWN_PROCESSES = ("azurite", "host", "bench", "proxy")
APP_KINDS = ("app", "alone")  # "alone": the smallest delivery of a concurrent run, alone
GOAL_SMALLEST_TIMES = 2.0  # concurrent: the smallest delivery within 2x its time alone


def own_cpu(run: RunResult) -> float:
    """CPU seconds of the run's own processes (Azurite, devhost, the bench, the proxy)."""
    return sum(run.cpu.get(name, 0.0) for name in OWN_PROCESSES)


def brackets(result: ScenarioResult, kind: str) -> list[tuple[RunResult, list[RunResult]]]:
    """Each run of a baseline with the completed app runs next to it in the order (before and
    after): the A-B-A brackets."""
    runs = result.runs
    found = []
    for position, run in enumerate(runs):
        if run.kind != kind or not run.completed:
            continue
        before = next((r for r in reversed(runs[:position]) if r.kind == "app"), None)
        after = next((r for r in runs[position + 1:] if r.kind == "app"), None)
        apps = [app for app in (before, after) if app is not None and app.completed]
        if apps:
            found.append((run, apps))
    return found


def ratios(result: ScenarioResult) -> dict[str, dict]:
    """Per baseline: the app's speed over the baseline's in each A-B-A bracket (the baseline's
    seconds over the mean of the app runs next to it) and their median; the same for CPU
    seconds of the run's own processes (less sensitive to other work on the machine)."""
    found: dict[str, dict] = {}
    for kind in dict.fromkeys(run.kind for run in result.runs
                              if run.kind not in (*APP_KINDS, SCRIPT_ALONE)):
        pairs = brackets(result, kind)
        speed = [run.seconds / _mean([app.seconds for app in apps]) for run, apps in pairs]
        cpu = [own_cpu(run) / _mean([own_cpu(app) for app in apps]) for run, apps in pairs]
        found[kind] = {
            "ratio": statistics.median(speed) if speed else None, "each": speed,
            "cpu_ratio": statistics.median(cpu) if cpu else None,
            "baseline_seconds": _mean([run.seconds for run, _ in pairs]),
            "app_seconds": _mean([run.seconds for run in result.runs
                                  if run.kind == "app" and run.completed])}
    return found


def figures(result: ScenarioResult) -> list[tuple[str, str, str, str]]:
    """(figure, measured, goal, verdict) rows, over every app run of the scenario."""
    apps = [run for run in result.runs if run.kind == "app"]
    rows: list[tuple[str, str, str, str]] = []
    for kind, found in ratios(result).items():
        target = result.targets.get(kind)
        if found["ratio"] is None:
            rows.append((f"app speed / {kind}", "no app run completed", "", "FAIL"))
            continue
        measured = (f"{found['ratio']:.2f}x (median of brackets "
                    + ", ".join(f"{each:.2f}x" for each in found["each"])
                    + f"; mean s {found['baseline_seconds']:.1f} / {found['app_seconds']:.1f})")
        rows.append((f"app speed / {kind} (A-B-A)", measured,
                     f">= {target}x" if target else "(info)",
                     verdict(found["ratio"] >= target) if target else "info"))
        rows.append((f"  app CPU efficiency / {kind} (own processes' CPU s)",
                     f"{found['cpu_ratio']:.2f}x", "(info)", "info"))
    classes: dict[str, list[float]] = {}
    for run in apps:
        for name, entry in ((run.traffic or {}).get("classes") or {}).items():
            ratio = entry["read"] / max(entry["bytes"], 1)
            classes.setdefault(name, [0.0, 0.0])
            classes[name] = [max(classes[name][0], ratio), max(classes[name][1], entry["worst"])]
    for name, (ratio, worst) in sorted(classes.items()):
        rows.append((f"file bytes read / byte delivered: {name}",
                     f"{ratio:.4f} (worst file {worst:.4f})", f"<= {GOAL_READ_RATIO}",
                     verdict(worst <= GOAL_READ_RATIO + 1e-9)))
    written = max(((run.traffic or {}).get("sent.file_bodies", 0) for run in apps), default=0)
    rows.append(("file bytes written through the app", f"{written:,} B", "0",
                 verdict(written == 0)))
    hwm = max((run.vm_hwm for run in apps), default=0)
    rows.append(("peak RSS of devhost (VmHWM, fresh host per run)",
                 " / ".join(mib(run.vm_hwm) for run in apps), f"<= {GOAL_PEAK_MIB} MiB",
                 verdict(0 < hwm <= GOAL_PEAK_MIB * MIB)))
    history = max((run.host_log.get("largest_history", 0) for run in apps), default=0)
    rows.append(("largest generation's history (events)",
                 " / ".join(f"{run.host_log.get('largest_history', 0)} "
                            f"({run.host_log.get('generations', 0)} generations)"
                            for run in apps), "a constant", "info" if history else "FAIL"))
    longest = [(seconds, name, run) for run in apps
               for name, seconds in run.host_log.get("longest", {}).items()]
    if longest:
        seconds, name, run = max(longest, key=lambda found: found[0])
        rows.append(("longest activity", f"{name} {seconds:.1f} s",
                     f"<= {GOAL_ACTIVITY_SECONDS} s", verdict(seconds <= GOAL_ACTIVITY_SECONDS)))
        if run.unit_bytes and name == "copy_chunk":
            projected = seconds * DEFAULT_UNIT_BYTES / run.unit_bytes
            rows.append((f"  a {DEFAULT_UNIT_BYTES // GIB} GiB unit at that activity's rate",
                         f"{projected:.0f} s ({run.unit_bytes / MIB / seconds:.1f} MiB/s)",
                         f"<= {GOAL_ACTIVITY_SECONDS} s",
                         verdict(projected <= GOAL_ACTIVITY_SECONDS)))
    interval = max((run.longest_status_interval for run in apps), default=0.0)
    progress_seconds = result.app_settings.get("DDD_PROGRESS_SECONDS", "?").split()[0]
    rows.append(("longest status interval while bytes moved",
                 " / ".join(f"{run.longest_status_interval:.1f} s ({run.status_changes} "
                            "changes)" for run in apps),
                 f"<= {GOAL_STATUS_SECONDS} s (DDD_PROGRESS_SECONDS {progress_seconds})",
                 verdict(0 < interval <= GOAL_STATUS_SECONDS)))
    custom = max((run.longest_custom_status_interval for run in apps), default=0.0)
    custom_seen = any(run.custom_status_changes for run in apps)  # not in earlier results
    rows.append(("  the custom status (Durable API, portal)",
                 " / ".join(f"{run.longest_custom_status_interval:.1f} s "
                            f"({run.custom_status_changes} changes)" for run in apps)
                 if custom_seen else "not measured", f"<= {GOAL_STATUS_SECONDS} s",
                 verdict(0 < custom <= GOAL_STATUS_SECONDS) if custom_seen else "info"))
    rows += together_figures(result)
    problems = [problem for run in result.runs for problem in run.problems]
    read_back = sum(1 for run in result.runs if run.verify_seconds)
    rows.append(("every delivered byte verified (read back, MD5 and Content-MD5)",
                 (f"{read_back} of {len(result.runs)} runs read back, all verify"
                  if not problems else f"NO: {len(problems)} problems"), "all",
                 verdict(not problems and all(run.completed for run in result.runs))))
    return rows


def together_figures(result: ScenarioResult) -> list[tuple[str, str, str, str]]:
    """Several deliveries at once: the smallest one's time against its time alone, and the
    slowest delivery's share of the whole."""
    alone = [run.seconds for run in result.runs if run.kind == "alone" and run.completed]
    apps = [run for run in result.runs if run.kind == "app" and run.deliveries]
    if not apps:
        return []
    rows: list[tuple[str, str, str, str]] = []
    name = alone and next(run for run in result.runs if run.kind == "alone").deliveries[0]["name"]
    if alone and name:
        base = statistics.median(alone)
        together = [next(each["seconds"] for each in run.deliveries if each["name"] == name)
                    for run in apps]
        worst = max(together) / base
        rows.append((f"smallest delivery ({name}): together / alone",
                     " / ".join(f"{seconds:.1f} s" for seconds in together)
                     + f" against {base:.1f} s alone (median of "
                     + ", ".join(f"{seconds:.1f}" for seconds in alone) + f"): worst {worst:.2f}x",
                     f"<= {GOAL_SMALLEST_TIMES}x", verdict(worst <= GOAL_SMALLEST_TIMES)))
    scripts_alone = [run.seconds for run in result.runs
                     if run.kind == SCRIPT_ALONE and run.completed]
    scripts_together = [each["seconds"] for run in result.runs if run.kind == "tuned"
                        for each in run.deliveries if each["name"] == name]
    if name and scripts_alone and scripts_together:
        # what the same load does to the plain script of the smallest delivery
        base = statistics.median(scripts_alone)
        rows.append((f"  its tuned script ({name}): together / alone",
                     " / ".join(f"{seconds:.1f} s" for seconds in scripts_together)
                     + f" against {base:.2f} s alone: worst {max(scripts_together) / base:.1f}x",
                     "(info)", "info"))
    return rows


def deliveries_markdown(result: ScenarioResult) -> list[str]:
    """Each delivery of a concurrent scenario: its size, its seconds in every run (from the
    common start to its end) and, for the app, its longest status intervals."""
    runs = [run for run in result.runs
            if run.deliveries and run.kind not in ("alone", SCRIPT_ALONE)]
    if not runs:
        return []
    names = [each["name"] for each in runs[0].deliveries]
    heads = [f"{run.kind} {number + 1} s" for number, run in enumerate(runs)]
    lines = ["| delivery | files | MiB | " + " | ".join(heads)
             + " | status interval, endpoint / custom (s) |",
             "|---" * (4 + len(runs)) + "|"]
    for name in names:
        found = [next((each for each in run.deliveries if each["name"] == name), {})
                 for run in runs]
        first = found[0]
        gaps = ", ".join(f"{each.get('longest_status_interval', 0):.1f} / "
                         f"{each.get('longest_custom_status_interval', 0):.1f}"
                         for run, each in zip(runs, found, strict=True) if run.kind == "app")
        lines.append(f"| {name} | {first.get('files', 0):,} | {first.get('bytes', 0) / MIB:,.0f} | "
                     + " | ".join(f"{each.get('seconds', 0):.1f}" for each in found)
                     + f" | {gaps} |")
    return lines + [""]


def print_scenario(result: ScenarioResult) -> None:
    say()
    say("=" * 100)
    say(f"{result.name}: {result.about}")
    say("=" * 100)
    say(f"machine   {result.machine}")
    say(f"data      {result.files:,} files, {mib(result.bytes)}: " + "; ".join(
        f"{entry['files']:,} {name} ({mib(entry['bytes'])})"
        for name, entry in sorted(result.classes.items())) + f"; seeded in "
        f"{result.seed_seconds:.0f} s")
    say("app       " + ", ".join(f"{k}={v}" for k, v in result.app_settings.items()))
    say(f"order     {' - '.join(result.order)}; a fresh Azurite (from the seeded template), "
        "proxy and devhost for every run")
    say()
    say(f"{'run':<48} {'seconds':>8} {'MiB/s':>7} {'files/s':>8}  CPU s: azurite / host / "
        "bench / proxy / others; load 1-min start-end")
    for run in result.runs:
        say(run_line(run))
    say()
    rows = figures(result)
    width = max(len(row[0]) for row in rows) + 2
    for name, measured, goal, ok in rows:
        say(f"{name:<{width}} {measured:<44} {goal:<28} {ok}")
    for line in deliveries_markdown(result):
        say(line)
    problems = [problem for run in result.runs for problem in run.problems]
    for problem in problems[:30]:
        say(f"  PROBLEM: {problem}")
    say(f"wall time {result.wall_seconds:.0f} s")


def run_line(run: RunResult) -> str:
    cpu = " / ".join(f"{run.cpu.get(name, 0):.0f}" for name in
                     ("azurite", "host", "bench", "proxy", "others"))
    done = "" if run.completed else f" (STOPPED at {run.files_done:,} files)"
    size = run.bytes_done if run.completed else run.bytes_done
    return (f"{run.label[:48]:<48} {run.seconds:>8.1f} {size / MIB / run.seconds:>7.1f} "
            f"{run.files_done / run.seconds:>8.0f}  {cpu}; {run.load[0]:.1f}-{run.load[1]:.1f}"
            + done)


def markdown(results: list[ScenarioResult]) -> str:
    """A Markdown section: per scenario, its runs and its figures."""
    lines: list[str] = []
    for result in results:
        lines += [f"**{result.name}**: {result.about}; {result.files:,} files, "
                  f"{mib(result.bytes)}. Order {' - '.join(result.order)}. "
                  + ("App settings: " + ", ".join(f"`{k}={v}`" for k, v in
                                                  result.app_settings.items() if "default"
                                                  not in v) + "."
                     if any("default" not in v for v in result.app_settings.values()) else
                     "App settings: defaults."), ""]
        lines += ["| run | seconds | MiB/s | files/s | CPU s azurite / host / bench / proxy / "
                  "others |", "|---|---|---|---|---|"]
        for run in result.runs:
            cpu = " / ".join(f"{run.cpu.get(name, 0):.0f}" for name in
                             ("azurite", "host", "bench", "proxy", "others"))
            stopped = "" if run.completed else f" (stopped at {run.files_done:,} files)"
            lines.append(f"| {run.label}{stopped} | {run.seconds:.1f} | "
                         f"{run.bytes_done / MIB / run.seconds:.1f} | "
                         f"{run.files_done / run.seconds:.0f} | {cpu} |")
        lines += ["", *deliveries_markdown(result)]
        lines += ["| figure | measured | goal |", "|---|---|---|"]
        for name, measured, goal, ok in figures(result):
            lines.append(f"| {name.strip()} | {measured} | {goal}"
                         + (f" ({ok})" if ok in ("PASS", "FAIL") else "") + " |")
        lines.append("")
    return "\n".join(lines)
