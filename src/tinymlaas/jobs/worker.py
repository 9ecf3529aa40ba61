"""Worker processes: the Celery worker, the local polling worker, and their supervisor."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.config import Settings
from tinymlaas.db.session import UNREACHABLE, transaction
from tinymlaas.enums import FINISHED_STATUSES, JobStatus
from tinymlaas.jobs import repository, service
from tinymlaas.jobs.runner import TASKS, run_job, run_one, session_factory
from tinymlaas.models import Job

log = logging.getLogger(__name__)


# How `tinymlaas worker --job ID` exits; per-job containers (docker_executor.py) rely on them.
EXIT_SUCCEEDED = 0
EXIT_FAILED = 1  # the job ran and failed, or was cancelled while it ran
EXIT_NO_SUCH_JOB = 2  # like a command line error (click's usage errors exit 2 as well)
EXIT_NOT_RUN = 3  # another runner has it, it has already ended, or workers do not run its kind


def run_single(settings: Settings, job_id: int) -> tuple[int, str]:
    """Run one job for `worker --job ID`: the exit code and a line saying what happened."""
    status = run_one(settings, job_id)
    if status == JobStatus.succeeded:
        return EXIT_SUCCEEDED, f"job {job_id}: succeeded"
    with session_factory(settings.resolved_database_url)() as session:
        job = session.get(Job, job_id)
    if job is None:
        where = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
        return EXIT_NO_SUCH_JOB, f"job {job_id} does not exist (database {where})"
    if status != "skipped":
        error = (job.error or "").strip().splitlines()
        return EXIT_FAILED, f"job {job_id}: {status}" + (f": {error[0]}" if error else "")
    if job.kind not in TASKS:
        reason = f"{job.kind} jobs are run by the server, not by workers"
    elif job.status == JobStatus.running:
        reason = f"another worker ({job.worker}) is running it"
    elif job.status in FINISHED_STATUSES:
        reason = f"it has already ended ({job.status})"
    else:
        reason = f"it is {job.status}"
    return EXIT_NOT_RUN, f"job {job_id} not run: {reason}"


class Reaper:
    """Fails running jobs whose worker stopped renewing their lease.

    While the database is unreachable no worker can renew its leases either, so right after an
    outage every lease looks expired. After this process has seen the database unreachable, it
    fails nothing until the database has been back for a whole lease
    (TINYMLAAS_JOB_STALE_SECONDS): live workers renew within a heartbeat, dead ones do not.
    """

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory = factory
        self.settings = settings
        self.quiet_until = 0.0

    def __call__(self) -> list[int]:
        try:
            with transaction(self.factory) as session:
                if time.monotonic() < self.quiet_until:
                    session.execute(select(1))  # still notices a database that is down again
                    return []
                failed = service.fail_stale(session, self.settings.job_stale_seconds)
        except UNREACHABLE:
            self.quiet_until = time.monotonic() + self.settings.job_stale_seconds
            raise
        for job_id in failed:
            log.warning("job %s failed: its worker stopped sending heartbeats", job_id)
        return failed


def local_worker_loop(settings: Settings, stop: threading.Event | None = None) -> None:
    """Take queued jobs from the database one at a time until `stop` is set."""
    stop = stop or threading.Event()
    factory = session_factory(settings.resolved_database_url)
    reap = Reaper(factory, settings)
    while not stop.is_set():
        try:
            reap()
            with factory() as session:
                queued = repository.next_queued(session, list(TASKS))
            ran = False
            for job_id in queued:
                if run_job(factory, job_id, settings.job_heartbeat_seconds) != "skipped":
                    ran = True
                    break
        except Exception:  # the database may be briefly unreachable; keep serving
            log.exception("local worker loop error")
            ran = False
        if not ran:
            stop.wait(settings.job_poll_seconds)


def run_celery_worker(settings: Settings, concurrency: int, pool: str) -> None:
    from tinymlaas.jobs.celery_app import make_celery

    app = make_celery(settings)
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def exit_with_parent(parent_pid: int, check_seconds: float = 1.0) -> None:
    """Send this process SIGTERM (a graceful stop) when the process `parent_pid` is gone.

    A local worker must not outlive the server that started it, however the server dies
    (`kill -9` included): an orphan keeps taking jobs beside the next server's workers. On Linux
    the kernel signals us when the parent *thread* that started us ends (PR_SET_PDEATHSIG), so
    the supervisor starts its workers from a thread that lives as long as it does. Everywhere,
    a thread also checks every `check_seconds` whether we were re-parented.
    """
    if sys.platform.startswith("linux"):
        _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(check_seconds)
        log.warning("the process that started this worker (%s) is gone; stopping", parent_pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _set_parent_death_signal(signum: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))


class LocalWorkerSupervisor:
    """Starts `count` local worker processes and restarts any that dies, until stopped.

    Every worker is started from the supervisor's own thread, which lives until `stop`: Linux
    delivers a worker's parent-death signal when the thread that started it ends.
    """

    def __init__(self, count: int, env: dict[str, str] | None = None) -> None:
        self.count = count
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []
        self.stop_event = threading.Event()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="worker-supervisor")

    def start(self) -> None:
        self.thread.start()
        self.started.wait()

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "tinymlaas", "worker", "--local"]
        command += ["--parent-pid", str(os.getpid())]
        return subprocess.Popen(command, env=self.env)

    def _run(self) -> None:
        try:
            self.processes = [self._spawn() for _ in range(self.count)]
        finally:
            self.started.set()
        while not self.stop_event.wait(1.0):
            for index, process in enumerate(self.processes):
                if process.poll() is not None and not self.stop_event.is_set():
                    log.warning("local worker exited with %s; restarting it", process.returncode)
                    time.sleep(0.5)
                    self.processes[index] = self._spawn()

    def stop(self) -> None:
        self.stop_event.set()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
