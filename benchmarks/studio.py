"""The studio's loop, without a browser: `dramac serve` on a generated play, timed from a save (or a
take) to the event that tells the page the new audio is there, and the page's own requests.

Starts the real command (a subprocess), listens to its server-sent events as the page does
(/api/events), and times:
- a one-line edit saved the way an editor does (a new file renamed over the script) -> `build` event;
- "another take" of one line (POST /api/take, as the page's button) -> `build` event;
- GET /api/state and /api/peaks, which the page fetches after every build.
Each edit adds words never rendered before, so exactly one clip is rendered again. Printed beside
`dramac watch`'s target for the same edit (benchmarks/watch.py): the studio should add nothing to it.

    .venv/bin/python benchmarks/studio.py                  # 4-minute play, 3 edits, 2 takes
    .venv/bin/python benchmarks/studio.py --minutes 60     # the hour-long play (its first build is long)

The play lives in a work folder (--workdir) that keeps its clip cache between runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from incremental import generated_play  # noqa: E402
from watch import EDIT_WORDS, TARGET_OVERHEAD  # noqa: E402


def start(project: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "compiler", "serve", "play.fountain", "--port", "0"], cwd=project,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = process.stdout.readline()
    if not first.startswith("dramac studio: "):
        sys.exit(f"dramac serve did not start: {first}{process.stdout.read()}")
    return process, first.split()[2].rstrip("/")


def stage_lines(process: subprocess.Popen, stages: queue.Queue) -> None:
    """Drain the server's output (watch's report); each rebuild's `parse …s · plan …s · …` line goes to `stages`."""
    for line in process.stdout:
        if line.strip().startswith("parse "):
            stages.put(line.strip())


def listen(url: str, events: queue.Queue) -> None:
    """Put (seconds, event, data) for every server-sent event, as the page's EventSource gets them."""
    host = url.split("//", 1)[1]
    connection = http.client.HTTPConnection(host, timeout=3600)
    connection.request("GET", "/api/events", headers={"Host": host})
    response = connection.getresponse()
    name = None
    for raw in response:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name:
            events.put((time.perf_counter(), name, json.loads(line[6:])))
            name = None


def wait_event(events: queue.Queue, wanted: str, timeout: float) -> tuple[float, dict]:
    deadline = time.perf_counter() + timeout
    while True:
        at, name, data = events.get(timeout=max(deadline - time.perf_counter(), 0.01))
        if name == wanted:
            return at, data


def request(url: str, method: str, path: str, body: dict | None = None) -> tuple[float, bytes]:
    host = url.split("//", 1)[1]
    connection = http.client.HTTPConnection(host, timeout=600)
    headers = {"Host": host, "Origin": url, "Content-Type": "application/json"}
    started = time.perf_counter()
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    data = connection.getresponse().read()
    return time.perf_counter() - started, data


def save_edit(script: Path, rng: random.Random, number: int) -> None:
    lines = script.read_text().split("\n")
    spoken = [i for i, text in enumerate(lines) if text and i > 0 and lines[i - 1].isupper() and not text.isupper()]
    target = spoken[(number * 7) % len(spoken)]
    lines[target] = lines[target].rstrip(".") + " " + " ".join(rng.sample(EDIT_WORDS, 3)) + "."
    temporary = script.with_suffix(".tmp")
    temporary.write_text("\n".join(lines))
    os.replace(temporary, script)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--takes", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dramac-bench-studio"))
    args = parser.parse_args()
    project = args.workdir / f"{args.minutes:g}min"
    project.mkdir(parents=True, exist_ok=True)
    (project / "dramac.toml").write_text("[project]\nname = \"bench\"\n")
    script = project / "play.fountain"
    script.write_text(generated_play(args.minutes))
    (project / "dramac.lock").unlink(missing_ok=True)  # takes start from take 1 each run
    process, url = start(project)
    events: queue.Queue = queue.Queue()
    stages: queue.Queue = queue.Queue()
    threading.Thread(target=listen, args=(url, events), daemon=True).start()
    threading.Thread(target=stage_lines, args=(process, stages), daemon=True).start()
    try:
        started = time.perf_counter()
        at, _ = wait_event(events, "build", 3600)
        while not stages.empty():
            stages.get()
        print(f"dramac serve, generated {args.minutes:g}-minute play: first build {at - started:.1f} s (clips cached in {project})")
        states = [request(url, "GET", "/api/state")[0] for _ in range(5)]
        peaks = [request(url, "GET", f"/api/peaks?v={i}")[0] for i in range(3)]
        print(f"  GET /api/state: median {statistics.median(states) * 1000:.0f} ms;  GET /api/peaks: first "
              f"{peaks[0] * 1000:.0f} ms, then {statistics.median(peaks[1:]) * 1000:.0f} ms (kept per build)")
        rng = random.Random(time.time_ns())
        saves = []
        for i in range(args.edits):
            time.sleep(0.5)
            before = time.perf_counter()
            save_edit(script, rng, i)
            at, data = wait_event(events, "build", 600)
            saves.append(at - before)
            print(f"  save {i + 1} -> build event: {at - before:.2f} s  ({data.get('message', '')})")
            time.sleep(0.2)
            while not stages.empty():
                print(f"      {stages.get()}")
        state = json.loads(request(url, "GET", "/api/state")[1])
        line = state["lines"][len(state["lines"]) // 2]["line"]
        takes = []
        for i in range(args.takes):
            before = time.perf_counter()
            seconds, answer = request(url, "POST", "/api/take", {"line": line, "action": "new"})
            at, data = wait_event(events, "build", 600)
            takes.append(at - before)
            print(f"  another take of line {line} -> rendered {seconds:.2f} s -> build event {at - before:.2f} s  "
                  f"({json.loads(answer)})")
        print(f"median: save -> page told {statistics.median(saves):.2f} s; another take -> page told "
              f"{statistics.median(takes):.2f} s")
        print(f"beside: dramac watch's target for a save is <= {TARGET_OVERHEAD:g} s plus the changed clip's render time "
              "(benchmarks/watch.py measures it); the studio runs the same loop and adds the event")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
