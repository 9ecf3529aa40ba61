from __future__ import annotations

from fastapi import APIRouter, status

from tinymlaas.auth.dependencies import CurrentUser, SessionDep, SettingsDep
from tinymlaas.jobs import service as jobs
from tinymlaas.params import Id, Limit, Offset
from tinymlaas.schemas import Page
from tinymlaas.search import repository, service
from tinymlaas.search.schemas import SearchAccepted, SearchCreate, SearchRead, SearchSummary

router = APIRouter(tags=["search"])


@router.post(
    "/searches",
    operation_id="start_search",
    response_model=SearchAccepted,
    status_code=status.HTTP_202_ACCEPTED,
)
def start_search(
    payload: SearchCreate, session: SessionDep, user: CurrentUser, settings: SettingsDep
) -> SearchAccepted:
    """Search the catalog for the best model that fits the board, training on the workers."""
    search = service.create_search(session, user, payload, settings)
    return SearchAccepted(id=search.id, job_id=search.job_id or 0)


@router.get("/searches", operation_id="list_searches", response_model=Page[SearchSummary])
def list_searches(
    session: SessionDep, user: CurrentUser, offset: Offset = 0, limit: Limit = 100
) -> Page[SearchSummary]:
    """The user's searches, newest first."""
    rows, total = repository.list_owned(session, user.id, offset, limit)
    return Page(items=service.list_summaries(session, rows), total=total)


@router.get("/searches/{search_id}", operation_id="get_search", response_model=SearchRead)
def read_search(search_id: Id, session: SessionDep, user: CurrentUser) -> SearchRead:
    """Every candidate with its estimates and results, the Pareto front, the recommendation."""
    return service.describe(session, service.get_search(session, user, search_id))


@router.post(
    "/searches/{search_id}/cancel", operation_id="cancel_search", response_model=SearchSummary
)
def cancel_search(search_id: Id, session: SessionDep, user: CurrentUser) -> SearchSummary:
    """Cancel the search's job (the same as cancelling the job): its trainings stop."""
    search = service.get_search(session, user, search_id)
    job = jobs.get_job(session, user, search.job_id or 0)
    jobs.cancel(session, job)
    return service.summary(search, job)
