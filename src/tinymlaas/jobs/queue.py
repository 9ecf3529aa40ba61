"""Jobs reach the executor only once the transaction that created their rows has committed.

`jobs.service.create_job` registers each job workers run on its session; `submit_on_commit`
(wired by `create_app` on the app's session factory) hands them to the executor when that
session commits. A transaction that rolls back, or whose commit fails, submits nothing, so a
worker never looks for a row that does not exist (or does not exist yet), and no route can
forget to submit the job it created.
"""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.jobs.executor import Executor

log = logging.getLogger(__name__)

# Key in `Session.info`: the jobs created in the session's open transaction.
_PENDING = "tinymlaas.jobs.pending"


def submit_after_commit(session: Session, job_id: int) -> None:
    """Submit `job_id` to the executor once the session's current transaction commits."""
    session.info.setdefault(_PENDING, []).append(job_id)


def submit_on_commit(factory: sessionmaker[Session], executor: Executor) -> None:
    """Make every session of `factory` submit the jobs it created when it commits."""

    def committed(session: Session) -> None:
        for job_id in session.info.pop(_PENDING, []):
            try:
                executor.submit(job_id)
            except Exception:  # the row is committed: the job stays queued, the request stands
                log.exception("could not submit job %s", job_id)

    def rolled_back(session: Session) -> None:
        session.info.pop(_PENDING, None)

    event.listen(factory, "after_commit", committed)
    event.listen(factory, "after_rollback", rolled_back)
