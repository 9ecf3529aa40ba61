"""Load on the API: list and detail endpoints at 50 concurrent clients, measured with wrk.

Runs `tinymlaas serve` on PostgreSQL (a scratch database) in its own process, fills it with a
few datasets, images, models and jobs, then drives each endpoint with `wrk -c 50` and prints
requests/s and latency percentiles next to a baseline: a bare Starlette app answering the same
number of bytes under the same uvicorn, which is the ceiling of the server stack on this
machine. Goal (issue 6): p99 < 50 ms and >= 500 requests/s on 2 cores.

Two loads per endpoint, both 50 connections:
- saturated: every client sends its next request as soon as it has the answer (wrk's closed
  loop): the most the server answers per second, with 50 requests always waiting; by Little's
  law the mean latency is then 50 / throughput, so p99 < 50 ms here would need > 1,000 req/s;
- paced: every client waits --think-ms after each answer (a user or script doing something with
  it), which offers about 50 / (think + latency) requests per second, 500/s at 95 ms: the
  latency a client sees while the server carries that load.

    .venv/bin/python bench/api_load.py [--seconds 10] [--connections 50]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from datasets_import_export import load_average, scratch_database
from server_process import free_port, wait_until_up

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "support"))
from factories import pattern_dataset_zip

SECRET_KEY = "bench-secret-key-" + "x" * 32
ADMIN_PASSWORD = "bench-admin-password"
BASELINE_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request):
        size = int(request.query_params.get("n", 0))
        return JSONResponse({"items": [], "total": 0, "padding": "x" * size})

    app = Starlette(routes=[Route("/hello", hello)])
    """
)


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants so far (Linux /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        process = int(stat.parent.name)
        parents[process] = int(fields[1])
        times[process] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, total = {pid}, 0.0
    for process in sorted(parents):  # children have higher ids than their parents, mostly
        if process in tree or parents[process] in tree:
            tree.add(process)
            total += times[process]
    return total


def wrk(
    url: str, seconds: int, connections: int, token: str | None, pacing: Path | None = None
) -> dict[str, float]:
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    if pacing:
        command[1:1] = ["-s", str(pacing)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    percentiles = {}
    for name in ("50", "99"):
        value, unit = re.search(rf"\s{name}%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        percentiles[name] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests": float(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
        "rps": rate,
        "p50": percentiles["50"],
        "p99": percentiles["99"],
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def seed(base: str, token: str) -> dict[str, int]:
    """Data a small lab would have: datasets with images, a queued model, jobs."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
        ids = []
        for index in range(5):
            response = http.post(
                "/datasets/import",
                files={"file": ("d.zip", pattern_dataset_zip(per_class=40), "application/zip")},
                data={"name": f"dataset {index}"},
            )
            response.raise_for_status()
            ids.append(response.json()["id"])
        model = http.post(
            "/models",
            json={"name": "m", "dataset_id": ids[0], "architecture": "cnn-small", "epochs": 1},
        ).json()
        image = http.get(f"/datasets/{ids[0]}/images", params={"limit": 1}).json()["items"][0]
    return {"dataset": ids[0], "model": model["id"], "job": model["job_id"], "image": image["id"]}


def print_endpoint_table(
    arguments: argparse.Namespace, base: str, token: str, baseline_port: int, pacing: Path
) -> None:
    """Load each endpoint saturated and paced with wrk; print one row per endpoint.

    `cpu ms` is the CPU time the server's processes (or the baseline's) spent per answered
    request during the saturated run: what a request costs whatever else the machine runs.
    """
    ids = seed(base, token)
    targets = {
        "GET /datasets": f"{base}/datasets",
        "GET /datasets/{id}": f"{base}/datasets/{ids['dataset']}",
        "GET /datasets/{id}/images?limit=50": f"{base}/datasets/{ids['dataset']}/images?limit=50",
        "GET /datasets/{id}/images/{id}": (
            f"{base}/datasets/{ids['dataset']}/images/{ids['image']}"
        ),
        "GET /models/{id}": f"{base}/models/{ids['model']}",
        "GET /jobs": f"{base}/jobs",
        "GET /jobs/{id}": f"{base}/jobs/{ids['job']}",
    }
    print(f"\n{'':38} {'saturated (closed loop)':>39} | paced ({arguments.think_ms} ms think time)")
    header = ("endpoint", "req/s", "p50 ms", "p99 ms", "cpu ms", "vs base", "req/s", "p50 ms",
              "p99 ms", "non-2xx")  # fmt: skip
    print("{:38} {:>7} {:>7} {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7} {:>7}".format(*header))
    row = "{:38} {:7.0f} {:7.1f} {:7.1f} {:7.2f} {:>7} | {:7.0f} {:7.1f} {:7.1f} {:7.0f}"
    baseline_url = f"http://127.0.0.1:{baseline_port}/hello?n=600"
    rows = {"baseline (bare Starlette)": (baseline_url, None, arguments.baseline_pid)}
    rows |= {name: (url, token, arguments.server_pid) for name, url in targets.items()}
    reference = 0.0
    for name, (url, auth, pid) in rows.items():
        cpu_before = process_tree_cpu_seconds(pid)
        full = wrk(url, arguments.seconds, arguments.connections, auth)
        cpu_ms = (process_tree_cpu_seconds(pid) - cpu_before) * 1000 / max(full["requests"], 1)
        paced = wrk(url, arguments.seconds, arguments.connections, auth, pacing)
        reference = reference or full["rps"]
        print(row.format(name, full["rps"], full["p50"], full["p99"], cpu_ms,
                         f"{full['rps'] / reference:.2f}×", paced["rps"],
                         paced["p50"], paced["p99"],
                         full["non_2xx"] + paced["non_2xx"]), flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2, help="tinymlaas serve --processes")
    parser.add_argument("--api-threads", type=int, help="TINYMLAAS_API_THREADS (default 32)")
    parser.add_argument(
        "--no-access-log", action="store_true", help="TINYMLAAS_ACCESS_LOG=0 (a line per request)"
    )
    parser.add_argument(
        "--think-ms", type=int, default=95, help="paced load: a client's pause after each answer"
    )
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk on PATH (apt-get install wrk)")
    print(f"Load average before: {load_average()} (on {os.cpu_count()} CPUs)", flush=True)
    with tempfile.TemporaryDirectory(prefix="tinymlaas-load-") as temporary:
        work = Path(temporary)
        (work / "baseline.py").write_text(BASELINE_APP)
        pacing = work / "pacing.lua"
        pacing.write_text(f"function delay()\n  return {arguments.think_ms}\nend\n")
        with scratch_database("postgresql", work) as database_url:
            port, baseline_port = free_port(), free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("TINYMLAAS_")}
            env |= {
                "TINYMLAAS_DATABASE_URL": database_url,
                "TINYMLAAS_SECRET_KEY": SECRET_KEY,
                "TINYMLAAS_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "TINYMLAAS_DATA_DIR": str(work),
                "TINYMLAAS_LOCAL_WORKERS": "0",  # jobs stay queued: this measures the API only
            }
            if arguments.no_access_log:
                env["TINYMLAAS_ACCESS_LOG"] = "0"
            if arguments.api_threads:
                env["TINYMLAAS_API_THREADS"] = str(arguments.api_threads)
            server_log = open(work / "server.log", "wb")  # noqa: SIM115 - closed with the server
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tinymlaas",
                    "serve",
                    "--port",
                    str(port),
                    "--processes",
                    str(arguments.processes),
                ],  # fmt: skip
                env=env,
                stdout=server_log,
                stderr=subprocess.STDOUT,
            )
            baseline = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "baseline:app", "--port", str(baseline_port),
                 "--log-level", "warning", "--workers", str(arguments.processes)],
                cwd=work,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                base = f"http://127.0.0.1:{port}/api/v1"
                wait_until_up(f"{base}/health", server)
                wait_until_up(f"http://127.0.0.1:{baseline_port}/hello", baseline)
                token = httpx.post(
                    f"{base}/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
                ).json()["access_token"]
                arguments.server_pid, arguments.baseline_pid = server.pid, baseline.pid
                print_endpoint_table(arguments, base, token, baseline_port, pacing)
            finally:
                for process in (server, baseline):
                    process.terminate()
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.kill()
                server_log.close()
                log_lines = (work / "server.log").read_text(errors="replace").splitlines()
                problems = [line for line in log_lines if "200 OK" not in line][-15:]
                print("\nserver log (without 200 OK lines):\n  " + "\n  ".join(problems))
    print(f"\nLoad average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
