"""Delivery benchmark: the app through devhost against plain-SDK baselines, A-B-A, each run on
a fresh Azurite (see bench/README.md).

    python bench/delivery.py [--scenario small-10k,small-100k,large-4g,mixed] [--order aba|bab]

Per scenario: seed the files once into an Azurite location (the template); then for every run
in the order (app, baselines, app by default) start a fresh Azurite on a copy of the template,
the byte-counting proxy before it and, for the app, devhost and the website stand-in; measure;
read every delivered file back and check its MD5; stop everything. It prints the figures and
Markdown for the READMEs, saves them as JSON (``--json``), and exits 1 if any run did not
verify or did not finish. ``--report FILE.json ...`` prints the Markdown of saved results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: bench/ is a package of the repository
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, scenarios  # noqa: E402
from bench.app_run import run_app, verify_destination  # noqa: E402
from bench.baselines import BASELINES, run_baseline  # noqa: E402
from bench.common import MIB, REPO, machine_line, say  # noqa: E402
from bench.results import SCRIPT_ALONE, RunResult, ScenarioResult  # noqa: E402
from bench.seeding import SeededFile, seed_template  # noqa: E402
from bench.stack import app_host, fresh_storage, read_into_page_cache  # noqa: E402
from bench.together import (  # noqa: E402
    SMALLEST,
    run_app_together,
    run_scripts_together,
    top_folder_files,
)

DEFAULT_SCENARIOS = "small-10k,large-4g,mixed"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from shared.core.config import Settings

    defaults = {name: info.default for name, info in Settings.model_fields.items()}
    parser = argparse.ArgumentParser(
        prog="python bench/delivery.py",
        description="Time deliveries through devhost against plain-SDK baselines on Azurite, "
                    "A-B-A, a fresh Azurite per run.")
    parser.add_argument("--scenario", default=DEFAULT_SCENARIOS,
                        help=f"comma-separated, of {', '.join(scenarios.SCENARIOS)} (default "
                             f"{DEFAULT_SCENARIOS})")
    parser.add_argument("--order", choices=("aba", "bab"), default="aba",
                        help="aba: app, baselines, app (default); bab: baselines, app, "
                             "baselines reversed")
    parser.add_argument("--rounds", type=int, default=1,
                        help="A-B-A brackets in a row, sharing their ends: 2 gives A-B-A-B-A "
                             "(default 1)")
    parser.add_argument("--baseline-threads", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=2400,
                        help="seconds an app run may take before it is stopped and reported "
                             "as far as it got (default 2400)")
    parser.add_argument("--verify", choices=("all", "app"), default="all",
                        help="read back the destination of every run (default) or of the "
                             "app's runs only (a baseline still checks its own MD5s)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep seeded templates here and reuse them (default: a temporary "
                             "folder, removed)")
    parser.add_argument("--keep", action="store_true", help="keep each run's Azurite and logs")
    parser.add_argument("--host-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra environment variable for devhost (an app setting, or "
                             "e.g. MALLOC_ARENA_MAX=2 to study memory); repeatable")
    parser.add_argument("--like-azure", action="store_true",
                        help="run devhost as Flex Consumption runs the app: HTTP triggers and "
                             "Durable functions in two processes (--split-instances), "
                             "orchestration work found as the queues are polled "
                             "(--queue-polling)")
    parser.add_argument("--json", type=Path, default=None,
                        help="save each scenario's results to FILE (default: "
                             "<work dir>/<scenario>.json)")
    parser.add_argument("--report", type=Path, nargs="+", default=None, metavar="FILE",
                        help="print the figures and Markdown of saved results; run nothing")
    scenarios.add_arguments(parser)
    args = parser.parse_args(argv)
    args.scenarios = [name.strip() for name in args.scenario.split(",") if name.strip()]
    unknown = [name for name in args.scenarios if name not in scenarios.SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}")
    args.block_bytes = defaults["block_size_bytes"]
    args.small_file_max_bytes = defaults["small_file_max_bytes"]
    args.defaults = defaults
    return args


def shown_settings(environ: dict[str, str], defaults: dict) -> dict[str, str]:
    shown = {}
    for name, field_name in (("DDD_CHUNK_MAX_BYTES", "chunk_max_bytes"),
                             ("DDD_CHUNK_MAX_FILES", "chunk_max_files"),
                             ("DDD_PARALLEL_CHUNKS", "parallel_chunks"),
                             ("DDD_COPY_THREADS", "copy_threads"),
                             ("DDD_BLOCK_SIZE_BYTES", "block_size_bytes"),
                             ("DDD_SMALL_FILE_MAX_BYTES", "small_file_max_bytes"),
                             ("DDD_PROGRESS_SECONDS", "progress_seconds")):
        value = int(environ.get(name, defaults[field_name]))
        text = f"{value // MIB} MiB" if name.endswith("_BYTES") else str(value)
        shown[name] = text if name in environ else f"{text} (default)"
    shown.update({name: value for name, value in environ.items() if name not in shown})
    return shown


def template_for(scenario: scenarios.Scenario, args: argparse.Namespace, work_dir: Path
                 ) -> tuple[Path, list[SeededFile], float]:
    """The scenario's seeded template: reused when one with the same files is in work_dir."""
    specs = scenario.specs(args)
    key = f"{scenario.name}-{len(specs)}-{sum(spec.size for spec in specs)}-{args.seed}"
    template = work_dir / "templates" / key
    saved = template.with_suffix(".json")
    if saved.exists() and template.exists():
        say(f"  reusing the seeded template {template}")
        recorded = json.loads(saved.read_text())
        return template, [SeededFile(**item) for item in recorded["files"]], \
            recorded["seconds"]
    shutil.rmtree(template, ignore_errors=True)
    say(f"  seeding {len(specs):,} files, {sum(s.size for s in specs) / MIB:,.0f} MiB into "
        f"{template}")
    started = time.perf_counter()
    files = seed_template(template, specs)
    seconds = time.perf_counter() - started
    saved.write_text(json.dumps({"seconds": seconds, "files": [vars(f) for f in files]}))
    say(f"  seeded in {seconds:.0f} s")
    return template, files, seconds


def deployed_worker_pool() -> dict[str, str]:
    """The worker's thread pool as the Bicep deploys it: one thread per activity and
    orchestrator slot of host.json (infra/modules/functionapp.bicep, workerThreads). Without it
    devhost sizes the pool as the worker does for this machine's cores, min(32, cores + 4)."""
    durable = json.loads((REPO / "host.json").read_text())["extensions"]["durableTask"]
    threads = (durable["maxConcurrentActivityFunctions"]
               + durable["maxConcurrentOrchestratorFunctions"])
    return {"PYTHON_THREADPOOL_THREAD_COUNT": str(threads)}


def run_scenario(scenario: scenarios.Scenario, args: argparse.Namespace, work_dir: Path,
                 machine: str, save_to: Path) -> ScenarioResult:
    started = time.perf_counter()
    say(f"\n### {scenario.name}: {scenario.about}")
    template, files, seed_seconds = template_for(scenario, args, work_dir)
    environ = {**deployed_worker_pool(), **scenario.app_environ(args),
               **dict(pair.split("=", 1) for pair in args.host_env)}
    baselines = list(scenario.baselines)
    if scenario.concurrent:  # the smallest alone first and last (its script alone too); app,
        # baselines, app between
        order = ["alone", SCRIPT_ALONE, "app"] + [kind for _ in range(args.rounds)
                                                  for kind in [*baselines, "app"]] + ["alone"]
    elif args.order == "aba":  # app, baselines, app, baselines, ..., app
        order = ["app"] + [kind for _ in range(args.rounds) for kind in [*baselines, "app"]]
    else:  # baselines, app, baselines reversed, app, ...
        order = [*baselines]
        for round_number in range(args.rounds):
            order += ["app", *(baselines[::-1] if round_number % 2 == 0 else baselines)]
    classes: dict[str, dict[str, int]] = {}
    from bench.accounting import class_of
    for item in files:
        entry = classes.setdefault(class_of(item, args.small_file_max_bytes),
                                   {"files": 0, "bytes": 0})
        entry["files"] += 1
        entry["bytes"] += item.size
    result = ScenarioResult(
        scenario.name, scenario.about, machine, f"{datetime.now(UTC):%Y-%m-%d}",
        "python bench/delivery.py " + shlex.join(sys.argv[1:]), len(files),
        sum(item.size for item in files), classes,
        {**shown_settings(environ, args.defaults),
         **({"devhost": "--split-instances --queue-polling"} if args.like_azure else {})},
        order, dict(scenario.targets), seed_seconds, [])
    unit_bytes = int(environ.get("DDD_CHUNK_MAX_BYTES", args.defaults["chunk_max_bytes"]))
    warming = time.perf_counter()
    warmed = read_into_page_cache(template)
    say(f"  the template's {warmed / MIB:,.0f} MiB read into the page cache in "
        f"{time.perf_counter() - warming:.1f} s: every run starts with them there")
    for position, kind in enumerate(order):
        sink_folder = f"bench/{kind}-{position}"
        location = work_dir / f"{scenario.name}-run{position}"
        say(f"  run {position + 1}/{len(order)}: {kind} (fresh Azurite at {location})")
        shutil.rmtree(location, ignore_errors=True)  # nothing of an earlier invocation
        with fresh_storage(template, location / "azurite", keep=args.keep) as storage:
            delivered = files
            if kind in ("app", "alone"):
                with app_host(storage, location / "devhost", environ,
                              like_azure=args.like_azure) as app:
                    os.sync()  # the writes before the run go to disk first
                    if scenario.concurrent:
                        run, delivered = run_app_together(
                            storage, app, files, sink_folder, 9000 + 100 * position,
                            args.timeout, args.small_file_max_bytes,
                            only=SMALLEST if kind == "alone" else None)
                    else:
                        run = run_app(storage, app, files, sink_folder, 9000 + position,
                                      args.timeout, args.small_file_max_bytes)
                    if any(item.size > unit_bytes for item in files):
                        run.unit_bytes = unit_bytes  # a segment: the longest unit's bytes
                    logs = work_dir / "logs"
                    logs.mkdir(exist_ok=True)
                    shutil.copy(app.host.log_path,  # type: ignore[attr-defined]
                                logs / f"{scenario.name}-run{position}-devhost.log")
                    if run.problems:
                        say(f"  devhost log tail:\n{app.host.logs()[-3000:]}")  # type: ignore
            else:
                os.sync()
                try:
                    if kind == SCRIPT_ALONE:
                        delivered = top_folder_files(files, SMALLEST)
                    run = (run_scripts_together(storage, files, sink_folder, args,
                                                only=SMALLEST if kind == SCRIPT_ALONE else None)
                           if scenario.concurrent else
                           run_baseline(kind, storage, files, sink_folder, args))
                except Exception as error:
                    run = RunResult(kind, BASELINES[kind][1], 0.0, completed=False,
                                    problems=[f"{kind} failed: {type(error).__name__}: "
                                              f"{str(error)[:300]}"])
            if run.completed and (kind in ("app", "alone") or args.verify == "all"):
                verify_started = time.perf_counter()
                run.problems += verify_destination(storage, delivered, sink_folder)
                run.verify_seconds = time.perf_counter() - verify_started
        if not args.keep:
            shutil.rmtree(location, ignore_errors=True)
        result.runs.append(run)
        say("    " + report.run_line(run) + (f"; PROBLEMS: {run.problems[:3]}"
                                              if run.problems else "")
            + f" (verified in {run.verify_seconds:.0f} s)")
        result.wall_seconds = time.perf_counter() - started
        save_to.write_text(json.dumps(result.to_json(), indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        results = [ScenarioResult.from_json(json.loads(path.read_text()))
                   for path in args.report]
        for result in results:
            report.print_scenario(result)
        say("\n----- Markdown -----\n" + report.markdown(results))
        return 0
    machine = machine_line()
    say(f"machine: {machine}")
    stray = sorted(name for name in os.environ if name.startswith("DDD_"))
    if stray:
        say(f"warning: the environment sets {', '.join(stray)}; devhost inherits them")
    results: list[ScenarioResult] = []
    with contextlib.ExitStack() as stack:
        work_dir = args.work_dir
        if work_dir is None:
            work_dir = Path(tempfile.mkdtemp(prefix="ddd-bench-"))
            if not args.keep:
                stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True, exist_ok=True)
        for name in args.scenarios:
            save_to = (args.json.with_name(f"{args.json.stem}-{name}.json") if args.json
                       and len(args.scenarios) > 1 else args.json) or work_dir / f"{name}.json"
            results.append(run_scenario(scenarios.SCENARIOS[name], args, work_dir, machine,
                                        save_to))
            say(f"  results saved to {save_to}")
        for result in results:
            report.print_scenario(result)
        say("\n----- Markdown -----\n" + report.markdown(results))
    failed = [run for result in results for run in result.runs
              if run.problems or not run.completed]
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted: stopped every process the benchmark started")
        sys.exit(130)
