"""``Idempotency-Key`` handling shared by every service: one helper for every mutating route.

A route takes an :data:`IdempotentDep` and hands it the request's fingerprint
and its operation; the helper opens the unit of work, claims the key, runs
the operation, stores the answer and sets the status code::

    @router.post("/reservations", status_code=201, response_model=ReservationPublic, responses=IDEMPOTENT_RESPONSES)
    async def reserve(body: ReservationCreate, repo: RepoDep, once: IdempotentDep) -> ReservationPublic:
        return await once.run(fingerprint("reserve", body.model_dump()), lambda: service.reserve(repo, body))

A repeat with the same key and request answers the stored status and body
with ``Idempotent-Replayed: true``; the same key with another request is a
409 ``IdempotencyKeyReused``. Two modes:

* :meth:`IdempotentCall.run`: the key, the work and the answer share one
  transaction, so a concurrent repeat waits on the key's row lock and a crash
  before commit leaves no trace at all. A ``DomainError`` rolls back the key
  with the work.
* :meth:`IdempotentCall.run_phased`: for work that calls outside (a card
  processor, an SMTP server), which must not hold a connection or a lock
  while it waits. The key is claimed in a short committed transaction with a
  lease, the operation opens its own transactions, and the answer is stored
  at the end. A ``DomainError`` releases the key so a retry runs again; a
  concurrent repeat is a 409 ``IdempotencyKeyInProgress`` (retryable); a claim
  whose owner crashed is taken over once its lease (:data:`IDEMPOTENCY_LEASE`)
  has run out.
* :meth:`IdempotentCall.run_in_phases`: ``run_phased`` without its two extra
  transactions. The operation gets a :class:`Phases` and opens its
  transactions through it: the first claims the key before the work in it
  (and commits the claim with that work), :meth:`Phases.last` stores the
  answer with the work of the last. Crash semantics are ``run_phased``'s: a
  crash after the first commit leaves a claim that a retry takes over after
  the lease; a ``DomainError`` rolls back or releases the claim.

An operation answers its model (with the route's status code), an
:class:`Answer` (another status code), or raises :class:`Recorded` to answer
an error while keeping its work (a recorded card decline, replayed as such).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Generic, TypeVar, cast

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import SessionDep
from common.errors import Conflict, DomainError, ErrorBody
from common.sql import Sql, driver_connection

#: How long a phased claim stays exclusive; longer than any outside call it guards.
IDEMPOTENCY_LEASE = timedelta(seconds=30)
REPLAY_HEADER = "Idempotent-Replayed"

IdempotencyKeyDep = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, description="Repeat-safe request key"),
]

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")  # an operation's answer: its model or an Answer


class IdempotencyRecord(SQLModel, table=True):
    """One processed (or, for phased work, claimed) request; every service database has this table.

    ``status_code`` is null while the work is in progress; ``created_at`` is
    then when the current owner claimed the key (the start of its lease).
    """

    __tablename__ = "idempotency_keys"

    key: str = Field(primary_key=True, max_length=200)
    fingerprint: str = Field(max_length=64)
    status_code: int | None = None
    response: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


# The statements of every keyed call, compiled once and sent straight through asyncpg on the
# session's connection, in its transaction (common/sql.py): no statement construction and no
# SQLAlchemy execution layer per request (docs/performance.md).
#: Own the key; a row back means this request claimed it.
CLAIM_SQL = Sql(
    "INSERT INTO idempotency_keys (key, fingerprint, created_at) VALUES (:claim_key, :claim_fingerprint, :claimed_at)"
    " ON CONFLICT (key) DO NOTHING RETURNING key"
)
#: The key's first use, locked until this transaction ends (a concurrent owner commits or rolls back first).
LOOKUP_SQL = Sql(
    "SELECT fingerprint, status_code, response, created_at FROM idempotency_keys WHERE key = :claim_key FOR UPDATE"
)
#: Take over a claim whose owner's lease ran out.
TAKEOVER_SQL = Sql("UPDATE idempotency_keys SET created_at = :claimed_at WHERE key = :claim_key")
#: Store the answer on our own claim (one lost to a takeover is left alone).
STORE_SQL = Sql(
    "UPDATE idempotency_keys SET status_code = :answer_status, response = :answer"
    " WHERE key = :claim_key AND created_at = :claimed_at AND status_code IS NULL",
    json=("answer",),
)
#: Give up our own unanswered claim, so a retry runs the work again.
RELEASE_SQL = Sql(
    "DELETE FROM idempotency_keys WHERE key = :claim_key AND created_at = :claimed_at AND status_code IS NULL"
)


#: ``responses=`` for every idempotent route, so the OpenAPI document lists the key's conflicts.
IDEMPOTENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "``IdempotencyKeyReused``, ``IdempotencyKeyInProgress`` (retry later) or a domain conflict",
    }
}


@dataclass(frozen=True, slots=True)
class Answer(Generic[M]):
    """An operation's answer with a status code other than the route's default."""

    status_code: int
    body: M


class Recorded(Exception):
    """Raised by an operation to answer ``error`` *and* keep the work done (stored, replayed)."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.detail)
        self.error = error


def fingerprint(*parts: Any) -> str:
    """A stable hash of the request (path, body) a key was first used with."""
    canonical = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Outcome:
    status_code: int
    body: Any  # the model for a fresh success, JSON for a replay, the error for a rejection
    replayed: bool = False

    def json(self) -> Any:
        if isinstance(self.body, BaseModel):
            return self.body.model_dump(mode="json")
        if isinstance(self.body, DomainError):
            return self.body.body()
        return self.body


@functools.cache
def _replayed_error(status_code: int) -> type[DomainError]:
    """An error class answering ``status_code`` and marking the answer as a replay."""
    attributes = {"status_code": status_code, "headers": {REPLAY_HEADER: "true"}}
    return cast(type[DomainError], type(f"Replayed{status_code}", (DomainError,), attributes))


@functools.cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


class _Replay(Exception):
    """The key already has its answer: raised out of the operation's first transaction, answered by the helper."""

    def __init__(self, outcome: _Outcome) -> None:
        super().__init__("replay")
        self.outcome = outcome


class Phases:
    """The transactions of an operation run by :meth:`IdempotentCall.run_in_phases`.

    The first :meth:`transaction` (or :meth:`last`) claims the key before the
    operation's work in it, so claim and work commit (or roll back) together;
    if the key already has an answer, that transaction ends there and the
    operation is not continued (an operation must let exceptions from its
    transactions pass: that is how the helper answers a repeat). Calls outside (a card processor, a mail
    server) go between the transactions, never inside one.

    :meth:`last` runs the last piece of work and stores its answer in the same
    transaction; an operation that answers without it (an early answer from
    its first transaction) has its answer stored by the helper afterwards.
    """

    def __init__(self, call: IdempotentCall, request_fingerprint: str) -> None:
        self._call = call
        self._fingerprint = request_fingerprint
        self._begun = False
        self._claimed = False  # the claim is committed (so it is released if the operation then fails)
        self._stored = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A transaction of the operation's; the first one claims the key first.

        Raises:
            DomainError: the key's ``IdempotencyKeyReused`` / ``IdempotencyKeyInProgress``
                (from the first transaction, before any work).
        """
        call = self._call
        first, self._begun = not self._begun, True
        async with call.session.begin():
            if first and call.key is not None:
                replay = await call._claim(self._fingerprint)
                if replay is not None:
                    raise _Replay(replay)
            yield
        if first and call.key is not None:
            self._claimed = True

    async def last(self, work: Callable[[], Awaitable[R]]) -> R:
        """Run ``work`` in the operation's last transaction and store its answer there.

        ``work`` answers as an operation does (its model, an :class:`Answer`, or
        :class:`Recorded`, which is stored, committed and raised again); the
        operation must answer what this returns. Any other exception rolls the
        transaction back, answer and all.
        """
        recorded: Recorded | None = None
        async with self.transaction():
            try:
                result = await work()
            except Recorded as exc:
                recorded, outcome = exc, _Outcome(exc.error.status_code, exc.error)
            else:
                outcome = self._call._as_outcome(result)
            if self._call.key is not None:
                await self._call._store(outcome)
                self._stored = True
        if recorded is not None:
            raise recorded
        return result


class IdempotentCall:
    """Runs one route's operation at most once per ``Idempotency-Key``; see the module docstring.

    Args:
        session: The request's session; the helper opens its transactions.
        key: The caller's ``Idempotency-Key``; ``None`` runs the operation plainly.
        request: Tells the route's default status code and response model (for replays).
        response: Receives the status code and the replay header.
        lease: How long a phased claim is exclusive.
    """

    table: ClassVar[Any] = IdempotencyRecord.__table__  # type: ignore[attr-defined]

    def __init__(
        self,
        session: AsyncSession,
        key: str | None,
        request: Request,
        response: Response,
        *,
        lease: timedelta = IDEMPOTENCY_LEASE,
    ) -> None:
        self.session = session
        self.key = key
        self.lease = lease
        self._route = request.scope.get("route")
        self._response = response
        self._claimed_at: datetime | None = None

    async def run(self, request_fingerprint: str, operation: Callable[[], Awaitable[M | Answer[M]]]) -> M:
        """Claim the key, do the work and store the answer in one transaction.

        Raises:
            DomainError: the operation's (work and key rolled back), or the
                key's ``IdempotencyKeyReused`` / ``IdempotencyKeyInProgress``.
        """
        async with self.session.begin():
            outcome = await self._claim(request_fingerprint) if self.key else None
            if outcome is None:
                outcome = await self._outcome(operation)
                if self.key:
                    await self._store(outcome)
        return cast(M, self._render(outcome))

    async def run_phased(self, request_fingerprint: str, operation: Callable[[], Awaitable[M | Answer[M]]]) -> M:
        """Claim the key with a lease, let ``operation`` open its own transactions, then store the answer.

        Raises:
            DomainError: the operation's (the key is released for a retry), or
                the key's ``IdempotencyKeyReused`` / ``IdempotencyKeyInProgress``.
        """
        if self.key is None:
            return cast(M, self._render(await self._outcome(operation)))
        async with self.session.begin():
            replay = await self._claim(request_fingerprint)
        if replay is not None:
            return cast(M, self._render(replay))
        try:
            outcome = await self._outcome(operation)
        except Exception:
            if self.session.in_transaction():
                await self.session.rollback()
            async with self.session.begin():
                await self._release()
            raise
        async with self.session.begin():
            await self._store(outcome)
        return cast(M, self._render(outcome))

    async def run_in_phases(
        self, request_fingerprint: str, operation: Callable[[Phases], Awaitable[M | Answer[M]]]
    ) -> M:
        """Like :meth:`run_phased`, with the claim in the operation's first transaction and the store in its last.

        ``operation`` opens every transaction through the :class:`Phases` it is
        given; see there. Two transactions fewer per call than ``run_phased``.

        Raises:
            DomainError: the operation's (its claim is rolled back with its first
                transaction, or released), or the key's ``IdempotencyKeyReused`` /
                ``IdempotencyKeyInProgress``.
        """
        phases = Phases(self, request_fingerprint)
        try:
            outcome = await self._outcome(lambda: operation(phases))
        except _Replay as replay:
            return cast(M, self._render(replay.outcome))
        except Exception:
            if self.session.in_transaction():
                await self.session.rollback()
            if phases._claimed:
                async with self.session.begin():
                    await self._release()
            raise
        if self.key is not None and not phases._stored:
            if not phases._claimed:
                raise RuntimeError("a phased operation must open its transactions through its Phases")
            async with self.session.begin():
                await self._store(outcome)
        return cast(M, self._render(outcome))

    async def _outcome(self, operation: Callable[[], Awaitable[M | Answer[M]]]) -> _Outcome:
        try:
            result = await operation()
        except Recorded as recorded:
            return _Outcome(recorded.error.status_code, recorded.error)
        return self._as_outcome(result)

    def _as_outcome(self, result: Any) -> _Outcome:
        if isinstance(result, Answer):
            return _Outcome(result.status_code, result.body)
        return _Outcome(self._default_status(), result)

    async def _claim(self, request_fingerprint: str) -> _Outcome | None:
        """Own the key (None) or answer the stored outcome of its first use."""
        now = datetime.now(UTC)
        db = await driver_connection(self.session)
        if await CLAIM_SQL.fetchrow(db, claim_key=self.key, claim_fingerprint=request_fingerprint, claimed_at=now):
            self._claimed_at = now
            return None
        existing = await LOOKUP_SQL.fetchrow(db, claim_key=self.key)
        if existing is None:  # released by its owner in between: the caller may simply retry
            raise Conflict("request with this Idempotency-Key is still in progress", type="IdempotencyKeyInProgress")
        if existing["fingerprint"] != request_fingerprint:
            raise Conflict("Idempotency-Key was already used for a different request", type="IdempotencyKeyReused")
        if existing["status_code"] is not None:
            return _Outcome(existing["status_code"], existing["response"], replayed=True)
        if existing["created_at"] > now - self.lease:
            raise Conflict("request with this Idempotency-Key is still in progress", type="IdempotencyKeyInProgress")
        # The owner's lease ran out (it crashed between phases): take the claim over.
        await TAKEOVER_SQL.execute(db, claim_key=self.key, claimed_at=now)
        self._claimed_at = now
        return None

    async def _store(self, outcome: _Outcome) -> None:
        # A claim lost to a takeover is not overwritten; the caller still gets its answer.
        db = await driver_connection(self.session)
        await STORE_SQL.execute(
            db,
            claim_key=self.key,
            claimed_at=self._claimed_at,
            answer_status=outcome.status_code,
            answer=outcome.json(),
        )

    async def _release(self) -> None:
        db = await driver_connection(self.session)
        await RELEASE_SQL.execute(db, claim_key=self.key, claimed_at=self._claimed_at)

    def _default_status(self) -> int:
        return int(getattr(self._route, "status_code", None) or 200)

    def _render(self, outcome: _Outcome) -> Any:
        if outcome.status_code >= 400:
            if isinstance(outcome.body, DomainError):
                raise outcome.body
            body = dict(outcome.json())
            error_type, detail = str(body.pop("type", "Error")), str(body.pop("detail", ""))
            raise _replayed_error(outcome.status_code)(detail, type=error_type, extra=body)
        self._response.status_code = outcome.status_code
        if not outcome.replayed:
            return outcome.body
        self._response.headers[REPLAY_HEADER] = "true"
        model = getattr(self._route, "response_model", None)
        return _adapter(model).validate_python(outcome.body) if model is not None else outcome.body


async def idempotent_call(
    session: SessionDep, request: Request, response: Response, key: IdempotencyKeyDep = None
) -> IdempotentCall:
    """The dependency behind :data:`IdempotentDep`."""
    return IdempotentCall(session, key, request, response)


IdempotentDep = Annotated[IdempotentCall, Depends(idempotent_call)]
