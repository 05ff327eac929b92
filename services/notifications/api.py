"""Notification routes. Sending runs through the phased idempotency helper."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from common.db import SessionDep
from common.errors import ErrorBody, NotFound
from common.idempotency import IDEMPOTENT_RESPONSES, IdempotentDep, fingerprint
from services.notifications import service
from services.notifications.models import Channel, MessageCreate, MessagePublic
from services.notifications.repository import NotificationsRepository
from services.notifications.senders import Sender


async def get_repo(session: SessionDep) -> NotificationsRepository:
    return NotificationsRepository(session)


async def get_senders(request: Request) -> Mapping[Channel, Sender]:
    senders: Mapping[Channel, Sender] = request.app.state.senders
    return senders


RepoDep = Annotated[NotificationsRepository, Depends(get_repo)]
SendersDep = Annotated[Mapping[Channel, Sender], Depends(get_senders)]
MessageIdPath = Annotated[str, Path(min_length=1, max_length=64)]

router = APIRouter()


@router.post(
    "/messages",
    status_code=201,
    response_model=MessagePublic,
    responses={
        503: {
            "model": ErrorBody,
            "description": "``DeliveryFailed``: recorded, not delivered; retry with the same key",
        },
        **IDEMPOTENT_RESPONSES,
    },
    tags=["messages"],
)
async def send_message(body: MessageCreate, repo: RepoDep, senders: SendersDep, once: IdempotentDep) -> MessagePublic:
    """Render and deliver one message; the sender is called outside any transaction."""
    return await once.run_in_phases(
        fingerprint("send_message", body.model_dump(mode="json")),
        lambda phases: service.send_message(repo, senders, body, once.key, phases),
    )


@router.get("/messages", response_model=list[MessagePublic], tags=["messages"])
async def list_messages(
    repo: RepoDep,
    recipient: Annotated[str | None, Query(min_length=1, max_length=254)] = None,
    order_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MessagePublic]:
    messages = await repo.list_messages(recipient=recipient, order_id=order_id, limit=limit)
    return [service.message_public(m) for m in messages]


@router.get("/messages/{message_id}", response_model=MessagePublic, tags=["messages"])
async def get_message(message_id: MessageIdPath, repo: RepoDep) -> MessagePublic:
    message = await repo.get(message_id)
    if message is None:
        raise NotFound(f"no message {message_id}", type="MessageNotFound")
    return service.message_public(message)
