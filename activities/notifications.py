"""Activities of the notifications service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from activities.base import ServiceClient, idempotency_key, raise_for_rejection


@dataclass(frozen=True)
class SendMessage:
    template: str
    recipient: str
    order_id: str | None = None
    channel: str = "email"
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageSent:
    message_id: str
    status: str


class NotificationsClient(ServiceClient):
    """Typed client of the notifications service."""


class NotificationsActivities:
    def __init__(self, client: NotificationsClient) -> None:
        self.client = client

    @activity.defn(name="notifications.send")
    async def send(self, params: SendMessage) -> MessageSent:
        """Send one templated message. Idempotency key ``<workflow id>:notify:<template>``,
        so each step's message goes out once however often the activity is retried.

        A failed delivery is 503 ``DeliveryFailed`` and is retried (the service
        resends the same message); ``UnknownTemplate`` is not.
        """
        payload = {
            "channel": params.channel,
            "recipient": params.recipient,
            "template": params.template,
            "order_id": params.order_id,
            "context": params.context,
        }
        resp = await self.client.post("/messages", payload, idempotency_key(f"notify:{params.template}"))
        raise_for_rejection(resp)
        body = resp.json()
        return MessageSent(message_id=str(body["id"]), status=str(body["status"]))
