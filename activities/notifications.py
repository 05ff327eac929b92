"""Activities of the notifications service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.base import ServiceClient, idempotency_key, raise_for_rejection
from common.sealing import SealBroken, unseal_values


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
        resends the same message); ``UnknownTemplate`` is not, nor ``SealBroken``
        (a sealed context value this deployment's key cannot open).
        """
        payload = {
            "channel": params.channel,
            "recipient": params.recipient,
            "template": params.template,
            "order_id": params.order_id,
            "context": params.context,
        }
        try:
            # A reset code rides sealed through the history (common/sealing.py); it is opened only here.
            payload["context"] = unseal_values(self.client.service_token, params.context)
        except SealBroken as exc:
            raise ApplicationError(str(exc), type="SealBroken", non_retryable=True) from None
        resp = await self.client.post("/messages", payload, idempotency_key(f"notify:{params.template}"))
        raise_for_rejection(resp)
        body = resp.json()
        return MessageSent(message_id=str(body["id"]), status=str(body["status"]))
