"""Typed dependencies: the database session of a request and the authenticated user.

Each sync dependency costs the request a hop to the thread pool and back, so the ones that do
no I/O are async: the session is created in the event loop (creating one does not connect),
and a recently authenticated bearer token is answered from a small per-process cache.
Hot read-only endpoints go further with `ReaderDep`: their lookups, queries and JSON happen
in a single hop (see `Reader`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated

import anyio
from fastapi import Depends, Request, Response
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker
from starlette.concurrency import run_in_threadpool

from tinymlaas.auth import clock
from tinymlaas.auth.security import TokenClaims, read_access_token
from tinymlaas.config import Settings
from tinymlaas.errors import Forbidden, Unauthorized
from tinymlaas.models.user import User

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, committed once when the endpoint returns without error."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(_end, session, False)
        raise
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(_end, session, True)


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response is sent, so a 201 means the data is stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class RecentTokens:
    """Bearer tokens this process has checked lately, with a detached copy of their user.

    Checking a token means verifying its signature and loading its user: a third of a simple
    request's work. A token seen within `seconds` is trusted without either (never past its
    own expiry), so a user deleted directly in the database keeps access for at most that long.
    Only the event loop touches it, so it needs no lock.
    """

    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, User]] = OrderedDict()

    def get(self, token: str) -> User | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        valid_until, user = entry
        if clock.now().timestamp() >= valid_until:
            del self._entries[token]
            return None
        return user

    def put(self, token: str, user: User, expires_at: float) -> None:
        if self.seconds <= 0:
            return
        copy = User(**{attr.key: getattr(user, attr.key) for attr in inspect(User).column_attrs})
        make_transient_to_detached(copy)
        now = clock.now().timestamp()
        self._entries[token] = (now + min(self.seconds, expires_at - now), copy)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


async def get_current_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    recent: RecentTokens = request.app.state.recent_tokens
    known = recent.get(token) if token else None
    if known is not None:
        # Attach this request's own instance of the user, without a query.
        return session.merge(known, load=False)
    claims = read_access_token(token, request.app.state.secret_key) if token else None
    user = await run_in_threadpool(session.get, User, claims.user_id) if claims else None
    return _remember(recent, token, user, claims)


async def get_token_user(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    """The authenticated user as a detached copy, read-only and in no session."""
    recent: RecentTokens = request.app.state.recent_tokens
    known = recent.get(token) if token else None
    if known is not None:
        return known
    claims = read_access_token(token, request.app.state.secret_key) if token else None
    factory = request.app.state.session_factory
    user = await run_in_threadpool(_load_user, factory, claims.user_id) if claims else None
    return _remember(recent, token, user, claims)


def _load_user(factory: sessionmaker[Session], user_id: int) -> User | None:
    with factory() as session:  # closing it detaches the loaded user
        return session.get(User, user_id)


def _remember(
    recent: RecentTokens, token: str | None, user: User | None, claims: TokenClaims | None
) -> User:
    if not token:
        raise Unauthorized("not authenticated: send 'Authorization: Bearer <token>'")
    if user is None or claims is None:
        raise Unauthorized("invalid or expired token; log in again")
    recent.put(token, user, claims.expires_at)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("only administrators can do this")
    return user


CurrentAdmin = Annotated[User, Depends(get_current_admin)]


class Reader:
    """Answers a read-only GET in one hop to the thread pool: the lookups, the queries and the
    JSON of the answer all happen there, in a session of their own.

    The usual path costs a hop per sync dependency, one for the endpoint, one for validating
    its answer again and one for the commit: each hop hands the interpreter lock between
    threads, which under load cost more than the queries. On PostgreSQL the session reads on
    an autocommit connection (no BEGIN/COMMIT round trips; each statement still sees a
    consistent snapshot, as under the default READ COMMITTED). `work` only reads: its session
    refuses to flush changes and is closed without a commit.
    """

    def __init__(self, factory: sessionmaker[Session], user: User) -> None:
        self._factory = factory
        self.user = user

    async def answer(self, work: Callable[[Session], BaseModel]) -> Response:
        """JSON of the model `work` returns (what FastAPI would send for it, serialised once)."""
        body = await run_in_threadpool(_read_json, self._factory, work)
        return Response(body, media_type="application/json")

    async def answer_rows(self, work: Callable[[Connection], BaseModel]) -> Response:
        """Like `answer`, for work that reads Core rows on a plain connection: no ORM session
        (a session and its identity map cost about as much as a simple query)."""
        body = await run_in_threadpool(_read_rows_json, self._factory, work)
        return Response(body, media_type="application/json")


class ReadOnlySession(Session):
    """A session for `Reader` work: on an autocommit connection a write would be stored at
    once, statement by statement, so changed objects are refused instead of flushed."""

    def flush(self, objects: Sequence[object] | None = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("a read-only request tried to write; use SessionDep to change rows")


def _read_json(factory: sessionmaker[Session], work: Callable[[Session], BaseModel]) -> bytes:
    with ReadOnlySession(factory.kw["bind"], expire_on_commit=False, autoflush=False) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        answer = work(session)
        return answer.__pydantic_serializer__.to_json(answer, by_alias=True)


def _read_rows_json(
    factory: sessionmaker[Session], work: Callable[[Connection], BaseModel]
) -> bytes:
    engine: Engine = factory.kw["bind"]
    with engine.connect() as connection:  # closed without a commit: rolled back, if begun
        if engine.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        answer = work(connection)
        return answer.__pydantic_serializer__.to_json(answer, by_alias=True)


async def get_reader(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Reader:
    # The user is looked up here rather than as a dependency of its own: one level of
    # dependency solving less per request.
    return Reader(request.app.state.session_factory, await get_token_user(request, token))


ReaderDep = Annotated[Reader, Depends(get_reader)]
