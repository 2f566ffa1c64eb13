"""The long fuzz run: thousands of generated and mutated scripts through `check`, `ast --json`,
`plan --json` and `cast`, checked by the oracle of tests/fuzz_scripts.py (the CI test runs the same
checks on a couple of hundred).

    .venv/bin/python benchmarks/fuzz.py --scripts 10000 --workers 2 --out /tmp/dramac-fuzz

Workers are child processes, each drawing its own seeded stream of scripts; a worker that reports
nothing for --timeout seconds is killed and the script it was on is recorded as a hang (a regular
expression stuck in C cannot be interrupted from inside). Every failing script is written to
--out, and the smallest one of each kind of failure is minimised (lines, then bytes) and printed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]


def _copy_examples(into: Path) -> dict[str, Path]:
    from tests.fuzz_scripts import EXAMPLES

    folders = {}
    for fmt, script in EXAMPLES.items():
        folders[fmt] = into / script.parent.name
        shutil.copytree(script.parent, folders[fmt], ignore=shutil.ignore_patterns(".dramac-cache"))
    return folders


# --- one worker: a seeded hypothesis stream, one JSON line per script -----------------------------


def worker(seed: int, count: int, results: Path, inflight: Path) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from tests import fuzz_scripts

    folders = _copy_examples(Path(tempfile.mkdtemp(prefix="dramac-fuzz-")))
    for fmt, script in fuzz_scripts.EXAMPLES.items():  # grammars and voices load before the clock starts
        fuzz_scripts.check_script(folders[fmt], fmt, script.read_bytes())
    log = results.open("a", encoding="utf-8")

    @hypothesis_seed(seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(fuzz_scripts.scripts)
    def one(script):
        fmt, data = script
        inflight.write_bytes(fmt.encode() + b"\n" + data)
        path = folders[fmt] / ("fuzz" + fuzz_scripts.SUFFIX[fmt])
        path.write_bytes(data)
        runs = fuzz_scripts.run_all(path, len(data))
        found = fuzz_scripts.problems(path, data, runs)
        record = {"fmt": fmt, "size": len(data), "seconds": {" ".join(r.command): round(r.seconds, 4) for r in runs},
                  "problems": found}
        if found or max(r.seconds for r in runs) > 0.5:
            record["data"] = data.hex()
        log.write(json.dumps(record) + "\n")
        log.flush()

    one()


# --- the parent: start workers, watch them, add up ---------------------------------------------------


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _start(slot: dict, work: Path) -> None:
    slot["seed"] += 1000  # a restarted worker draws new scripts, not the ones before the hang again
    slot["restarts"] += 1
    done = _lines(slot["results"])
    slot["proc"] = subprocess.Popen(
        [sys.executable, __file__, "--worker", str(slot["seed"]), str(slot["todo"] - done), str(slot["results"]), str(slot["inflight"])],
        stdout=subprocess.DEVNULL, stderr=open(work / f"worker-{slot['n']}.log", "a"))
    slot["seen"], slot["since"], slot["grace"] = done, time.monotonic(), 60.0  # start-up loads grammars and voices


def _record_hang(slot: dict, timeout: float) -> None:
    slot["proc"].kill()
    slot["proc"].wait()
    slot["proc"] = None
    saved = slot["inflight"].read_bytes() if slot["inflight"].exists() else b"markdown\n"
    fmt, _, data = saved.partition(b"\n")
    record = {"fmt": fmt.decode(), "size": len(data), "seconds": {}, "data": data.hex(),
              "problems": [f"hang: no result after {timeout:g}s"]}
    with slot["results"].open("a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def supervise(args, work: Path) -> list[dict]:
    """Run the workers until each has reported its share of scripts; returns every record, hangs included."""
    per_worker = -(-args.scripts // args.workers)
    slots = [{"n": n, "seed": args.seed + n - 1000, "todo": per_worker, "proc": None, "restarts": 0,
              "results": work / f"results-{n}.jsonl", "inflight": work / f"inflight-{n}"} for n in range(args.workers)]
    while True:
        busy = False
        for slot in slots:
            done = _lines(slot["results"])
            alive = slot["proc"] is not None and slot["proc"].poll() is None
            if alive:
                busy = True
                if done != slot["seen"]:
                    slot["seen"], slot["since"], slot["grace"] = done, time.monotonic(), 0.0
                elif time.monotonic() - slot["since"] > args.timeout + slot["grace"]:
                    _record_hang(slot, args.timeout)
            elif done < slot["todo"] and slot["restarts"] < 50:
                _start(slot, work)
                busy = True
        if not busy:
            break
        time.sleep(0.5)
    return [json.loads(line) for slot in slots if slot["results"].exists()
            for line in slot["results"].read_text(encoding="utf-8").splitlines()]


def kind_of(problem: str) -> str:
    """A failure without its numbers and paths: one kind per cause, for counting and minimising."""
    problem = re.sub(r"/\S+/fuzz\.(fountain|md)", "FILE", problem)
    problem = re.sub(r"0x[0-9a-f]{2}", "0xNN", problem)
    return re.sub(r"\d+(\.\d+)?", "N", problem)[:120]


def _category(problem: str) -> str:
    if problem.startswith("hang"):
        return "hangs"
    if ": raised " in problem or "traceback" in problem:
        return "tracebacks"
    if "exit 70" in problem:
        return "exit 70"
    if ": exit " in problem:
        return "other exit codes"
    if ": took " in problem:
        return "over the time bound"
    if "printed" in problem or "does not print" in problem or "caret" in problem:
        return "misprinted diagnostics"
    return "bad positions"


def minimise(folder: Path, fmt: str, data: bytes, kind: str, budget: int = 300) -> bytes:
    """Delta debugging: drop chunks of lines, then of bytes, while the same kind of failure remains."""
    from tests.fuzz_scripts import check_script

    def fails(candidate: bytes) -> bool:
        return any(kind_of(p) == kind for p in check_script(folder, fmt, candidate))

    for unit in ("lines", "bytes"):
        pieces = data.splitlines(keepends=True) if unit == "lines" else [bytes([b]) for b in data]
        chunk = max(1, len(pieces) // 2)
        while chunk >= 1 and budget > 0:
            i, shrunk = 0, False
            while i < len(pieces) and budget > 0:
                candidate = pieces[:i] + pieces[i + chunk:]
                budget -= 1
                if candidate and fails(b"".join(candidate)):
                    pieces, shrunk = candidate, True
                else:
                    i += chunk
            if not shrunk:
                chunk //= 2
        data = b"".join(pieces)
    return data


def report(records: list[dict], wall: float, args) -> int:
    from tests.fuzz_scripts import COMMANDS

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = sum(len(r["seconds"]) or len(COMMANDS) for r in records)
    categories: Counter = Counter()
    kinds: dict[str, list[dict]] = {}
    for n, record in enumerate(records):
        for problem in record["problems"]:
            categories[_category(problem)] += 1
            kinds.setdefault(kind_of(problem), []).append(record)
        if record["problems"]:
            name = f"{n:05d}{'.fountain' if record['fmt'] == 'fountain' else '.md'}"
            (out / name).write_bytes(bytes.fromhex(record["data"]))
    failing = sum(1 for r in records if r["problems"])
    print(f"scripts: {len(records)} ({sum(r['fmt'] == 'fountain' for r in records)} Fountain, "
          f"{sum(r['fmt'] == 'markdown' for r in records)} Markdown), {sum(r['size'] for r in records) / 2**20:.1f} MiB in all")
    print(f"runs: {runs} ({', '.join(' '.join(c) for c in COMMANDS)}), wall time {wall:.0f}s with {args.workers} workers")
    for name in ("tracebacks", "exit 70", "other exit codes", "hangs", "bad positions", "misprinted diagnostics", "over the time bound"):
        print(f"{name}: {categories[name]}")
    print(f"failing scripts: {failing}, written to {out}")
    timed = [(max(r["seconds"].values()) / max(r["size"] / 1024, 1.0), r) for r in records if r["seconds"]]
    print("slowest runs per KB (seconds per KB, counting small files as 1 KB):")
    for per_kb, r in sorted(timed, key=lambda t: -t[0])[:5]:
        command = max(r["seconds"], key=r["seconds"].get)
        print(f"  {per_kb:.3f} s/KB  {command}  {r['size']} bytes  {r['fmt']}")
    if kinds and not args.no_minimise:
        folders = _copy_examples(Path(tempfile.mkdtemp(prefix="dramac-fuzz-min-")))
        print("kinds of failure (count, then the smallest script, minimised):")
        for kind, hits in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
            smallest = min(hits, key=lambda r: r["size"])
            data = bytes.fromhex(smallest["data"])
            if not kind.startswith("hang"):
                data = minimise(folders[smallest["fmt"]], smallest["fmt"], data, kind)
            (out / f"min-{len(hits):05d}-{abs(hash(kind)) % 10**8:08d}.{smallest['fmt']}").write_bytes(data)
            print(f"  {len(hits):5d}  {kind}\n         {smallest['fmt']}: {data!r}"[:600])
    return 1 if failing else 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        seed, count, results, inflight = sys.argv[2:6]
        worker(int(seed), int(count), Path(results), Path(inflight))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds without a result before a worker counts as hung")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "dramac-fuzz"))
    parser.add_argument("--no-minimise", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dramac-fuzz-run-") as work:
        records = supervise(args, Path(work))
    return report(records, time.perf_counter() - started, args)


if __name__ == "__main__":
    sys.exit(main())
