"""Load on the API: list and detail endpoints at 50 concurrent clients, measured with wrk.

Runs `tinymlaas serve` on PostgreSQL (a scratch database) in its own process, fills it with a
few datasets, images, models and jobs, then drives each endpoint with `wrk -c 50` and prints
requests/s and latency percentiles next to a baseline: a bare Starlette app answering the same
number of bytes under the same uvicorn, which is the ceiling of the server stack on this
machine. Goal (issue 6): p99 < 50 ms and >= 500 requests/s on 2 cores.

    .venv/bin/python bench/api_load.py [--seconds 10] [--connections 50]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from datasets_import_export import load_average, scratch_database  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from factories import pattern_dataset_zip  # noqa: E402

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited during startup")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def wrk(url: str, seconds: int, connections: int, token: str | None) -> dict[str, float]:
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    percentiles = {}
    for name in ("50", "99"):
        value, unit = re.search(rf"\s{name}%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        percentiles[name] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
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


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2, help="tinymlaas serve --processes")
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk on PATH (apt-get install wrk)")
    print(f"Load average before: {load_average()} (on {os.cpu_count()} CPUs)", flush=True)
    with tempfile.TemporaryDirectory(prefix="tinymlaas-load-") as temporary:
        work = Path(temporary)
        (work / "baseline.py").write_text(BASELINE_APP)
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
                ids = seed(base, token)
                targets = {
                    "GET /datasets": f"{base}/datasets",
                    "GET /datasets/{id}": f"{base}/datasets/{ids['dataset']}",
                    "GET /datasets/{id}/images?limit=50": (
                        f"{base}/datasets/{ids['dataset']}/images?limit=50"
                    ),
                    "GET /datasets/{id}/images/{id}": (
                        f"{base}/datasets/{ids['dataset']}/images/{ids['image']}"
                    ),
                    "GET /models/{id}": f"{base}/models/{ids['model']}",
                    "GET /jobs": f"{base}/jobs",
                    "GET /jobs/{id}": f"{base}/jobs/{ids['job']}",
                }
                print(f"\n{'endpoint':38} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
                      f" {'vs baseline':>12}")  # fmt: skip
                reference = wrk(
                    f"http://127.0.0.1:{baseline_port}/hello?n=600",
                    arguments.seconds,
                    arguments.connections,
                    None,
                )
                row = "{:38} {:8.0f} {:8.1f} {:8.1f} {:8.0f} {:>12}"
                print(row.format("baseline (bare Starlette)", reference["rps"], reference["p50"],
                                 reference["p99"], reference["non_2xx"], "1.00×"))  # fmt: skip
                for name, url in targets.items():
                    result = wrk(url, arguments.seconds, arguments.connections, token)
                    ratio = f"{result['rps'] / reference['rps']:.2f}×"
                    print(row.format(name, result["rps"], result["p50"], result["p99"],
                                     result["non_2xx"], ratio), flush=True)  # fmt: skip
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
