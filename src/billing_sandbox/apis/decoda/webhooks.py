"""A Decoda tenant's webhooks and its outbox: registering, updating and archiving webhooks (the
URL rule is the sandbox's own: by default only this machine's or a private network's hosts),
one delivery per event and subscribed webhook, and its tries on the tenant's clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson

from billing_sandbox.apis.decoda.records import Delivery, Try, Webhook
from billing_sandbox.clock import Clock
from billing_sandbox.errors import Issue, NotFound, ValidationFailed
from billing_sandbox.events.courier import Outcome, Outgoing, Settled
from billing_sandbox.events.targets import refusal
from billing_sandbox.observe.cause import CAUSE
from billing_sandbox.signing import hmac_hex

# Decoda's guide: after a failed try, the next one comes 1 s, 5 s, 15 s, 60 s, 5 min and
# 15 min later; after the last, none.
RETRY_AFTER = tuple(timedelta(seconds=s) for s in (1, 5, 15, 60, 300, 900))
# The most deliveries a tenant keeps; past it the oldest settled (delivered or out of tries)
# ones go first, so memory stays bounded however many events a long run makes. Each one
# dropped is counted (`dropped`), and the control API shows the count.
MAX_DELIVERIES = 1000
SIGNATURE_HEADER = "Decoda-Signature"
# The W3C trace context of the request that caused the event (a sandbox addition: only when
# the sandbox traces, docs/monitoring.md), so a team's trace links its receiver to the call.
TRACEPARENT_HEADER = "traceparent"
# What a delivery-attempt listing may be sorted by (the vendor's `sort_by`, snake_case).
SORT_KEYS: dict[str, Callable[[Delivery], datetime | None]] = {
    "created_date": lambda d: d.created_date,
    "delivered_date": lambda d: d.delivered_date,
    "last_delivery_attempt_date": lambda d: d.last_attempt_date,
}


@dataclass(frozen=True)
class DeliveryFilter:
    """The vendor's delivery-attempt filters; None leaves a criterion out. Date bounds are
    exclusive, and a delivery without the date never matches a bound on it."""

    event_type: str | None = None
    is_delivered: bool | None = None
    created_before: datetime | None = None
    created_after: datetime | None = None
    delivered_before: datetime | None = None
    delivered_after: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None

    def matches(self, d: Delivery) -> bool:
        return (
            (self.event_type is None or d.type == self.event_type)
            and (self.is_delivered is None or (d.delivered_date is not None) == self.is_delivered)
            and _within(d.created_date, self.created_after, self.created_before)
            and _within(d.delivered_date, self.delivered_after, self.delivered_before)
            and (self.last_status is None or str(d.last_status) == self.last_status)
            and (self.last_error is None or d.last_error == self.last_error)
        )


def _within(moment: datetime | None, after: datetime | None, before: datetime | None) -> bool:
    if after is None and before is None:
        return True
    return (
        moment is not None
        and (after is None or moment > after)
        and (before is None or moment < before)
    )


class Webhooks:
    """The tenant's webhooks, in the order they were registered."""

    def __init__(self, new_id: Callable[[str], str], clock: Callable[[], Clock]) -> None:
        self._new_id = new_id
        # The store's clock is swapped after seeding, so it is asked for, not kept.
        self._clock = clock
        self.webhooks: dict[str, Webhook] = {}
        self.deliveries: dict[str, Delivery] = {}
        # Deliveries the bound on their number made the tenant forget, since it was seeded.
        self.dropped = 0
        # The `traceparent` of the request that caused each delivery, by the delivery's id,
        # while the sandbox traces. Not the tenant's state: a snapshot, a spill or the log
        # keeps none (a trace is this process's), so a delivery restored goes without one.
        self.causes: dict[str, str] = {}
        # The tenant's webhook configuration (`/tenant/webhook-config`), the vendor's fields.
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        # Makes each event's `data`: the record in the current API's shape. The store's
        # builders (seed, snapshot) set it to `alerts.describer`; rendering needs the store.
        self.describe: Callable[[Any], dict[str, Any]] = lambda record: {"id": record.id}

    def _now(self) -> Any:
        return self._clock().now()

    def webhook(self, webhook_id: str) -> Webhook:
        found = self.webhooks.get(webhook_id)
        if found is None:
            raise NotFound("Webhook", webhook_id)
        return found

    def create(
        self,
        url: str,
        subscriptions: list[str],
        notification_email: str | None,
        allowed_hosts: tuple[str, ...],
    ) -> Webhook:
        _check_url(url, allowed_hosts)
        webhook = Webhook(
            id=self._new_id("whk"),
            url=url,
            subscriptions=list(dict.fromkeys(subscriptions)),
            # Decoda generates the secret; the sandbox draws it from the tenant's ids.
            secret=self._new_id("whsec"),
            created_date=self._now(),
            notification_email=notification_email,
        )
        self.webhooks[webhook.id] = webhook
        return webhook

    def listed(self, include_archived: bool) -> list[Webhook]:
        return [w for w in self.webhooks.values() if include_archived or not w.archived]

    def update(
        self,
        webhook_id: str,
        url: str | None,
        subscriptions: list[str] | None,
        notification_email: str | None,
        allowed_hosts: tuple[str, ...],
    ) -> Webhook:
        """Change what is given (null leaves a field as it is)."""
        webhook = self.webhook(webhook_id)
        if url is not None:
            _check_url(url, allowed_hosts)
            webhook.url = url
        if subscriptions is not None:
            webhook.subscriptions = list(dict.fromkeys(subscriptions))
        if notification_email is not None:
            webhook.notification_email = notification_email
        webhook.updated_date = self._now()
        return webhook

    def archive(self, webhook_id: str) -> bool:
        """Archived webhooks keep their deliveries and get no new event; archiving twice is
        harmless."""
        webhook = self.webhook(webhook_id)
        if not webhook.archived:
            webhook.archived = True
            webhook.updated_date = self._now()
        return True

    # ---- events and their deliveries ----

    def emit(self, event_type: str, record: Any) -> list[Delivery]:
        """One event for every active webhook subscribed to its type. Nothing is drawn when
        nobody listens, so a tenant without webhooks makes the same ids as before."""
        listening = [
            w for w in self.webhooks.values() if not w.archived and event_type in w.subscriptions
        ]
        if not listening:
            return []
        now = self._now()
        event_id = self._new_id("evt")
        alert_id = self._new_id("alr")
        data = self.describe(record)
        traceparent = CAUSE.get()
        made = []
        for webhook in listening:
            delivery = Delivery(
                id=self._new_id("wda"),
                webhook_id=webhook.id,
                event_id=event_id,
                type=event_type,
                data=data,
                created_date=now,
                alert_id=alert_id,
                next_due=now,
            )
            self.deliveries[delivery.id] = delivery
            if traceparent is not None:
                self.causes[delivery.id] = traceparent
            made.append(delivery)
        self._trim()
        return made

    def _trim(self) -> None:
        while len(self.deliveries) > MAX_DELIVERIES:
            victim = next(
                (d.id for d in self.deliveries.values() if d.next_due is None and not d.in_flight),
                next(iter(self.deliveries)),
            )
            del self.deliveries[victim]
            self.causes.pop(victim, None)
            self.dropped += 1

    def delivery(self, delivery_id: str) -> Delivery:
        found = self.deliveries.get(delivery_id)
        if found is None:
            raise NotFound("Webhook delivery attempt", delivery_id)
        return found

    def deliveries_of(
        self,
        webhook_id: str,
        where: DeliveryFilter,
        sort_by: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> list[Delivery]:
        """A webhook's deliveries, filtered, sorted by `sort_by` (ties in the order they were
        made, or its reverse; those without the date last, either way), then cut."""
        self.webhook(webhook_id)
        found = [
            d for d in self.deliveries.values() if d.webhook_id == webhook_id and where.matches(d)
        ]
        if descending:
            found.reverse()
        key = SORT_KEYS[sort_by]
        # Stable sorts: equal dates keep the order above, reversed or not.
        dated = [(moment, d) for d in found if (moment := key(d)) is not None]
        dated.sort(key=lambda pair: pair[0], reverse=descending)
        undated = [d for d in found if key(d) is None]
        return ([d for _, d in dated] + undated)[offset : offset + limit]

    def newest_first(self) -> list[Delivery]:
        """Every delivery the tenant keeps, across its webhooks (the control API's listing);
        deliveries of one instant, the last made first."""
        made_last_first = reversed(list(self.deliveries.values()))
        return sorted(made_last_first, key=lambda d: d.created_date, reverse=True)

    def resend(self, delivery_id: str) -> Delivery:
        """Make the delivery due now, whatever its tries so far (Decoda's manual send)."""
        delivery = self.delivery(delivery_id)
        delivery.next_due = self._now()
        return delivery

    def has_due(self) -> bool:
        if not self.deliveries:
            return False  # asked after every write: most tenants subscribe no receiver
        now = self._now()
        return any(
            d.next_due is not None and d.next_due <= now and not d.in_flight
            for d in self.deliveries.values()
        )

    def take_due(self) -> list[Outgoing]:
        """The tries due now, oldest first; each is taken once (its next try is unset until
        its outcome is known). A webhook archived since gets no more tries."""
        now = self._now()
        taken = []
        for delivery in self.deliveries.values():
            if delivery.next_due is None or delivery.next_due > now or delivery.in_flight:
                continue  # (a re-send asked for while a try is out goes once that one ends)
            delivery.next_due = None
            webhook = self.webhooks.get(delivery.webhook_id)
            if webhook is None or webhook.archived:
                continue
            delivery.in_flight = True
            delivery.tries += 1
            delivery.last_attempt_date = now
            body = orjson.dumps(envelope(delivery))
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: hmac_hex(webhook.secret.encode(), body),
            }
            # Every try of the delivery, retries too, carries its cause's.
            traceparent = self.causes.get(delivery.id)
            if traceparent is not None:
                headers[TRACEPARENT_HEADER] = traceparent
            taken.append(Outgoing(delivery.id, webhook.url, body, headers))
        return taken

    def settle(self, key: str, outcome: Outcome) -> Settled | None:
        """Record a try's outcome; returns how the delivery ended when it did for good."""
        delivery = self.deliveries.get(key)
        if delivery is None or not delivery.in_flight or delivery.last_attempt_date is None:
            return None  # trimmed away, or the tenant restored, while the try was in flight
        delivery.in_flight = False
        delivery.history.append(
            Try(delivery.last_attempt_date, outcome.status, outcome.error, outcome.duration_ms)
        )
        delivery.last_status = outcome.status
        delivery.last_error = outcome.error
        if outcome.delivered:
            delivery.delivered_date = self._now()
            return "delivered"
        if delivery.tries > len(RETRY_AFTER):
            return "exhausted"
        delivery.next_due = delivery.last_attempt_date + RETRY_AFTER[delivery.tries - 1]
        return None

    def configure(self, url: str | None, enabled: bool, subscriptions: list[str]) -> None:
        """Replace the tenant's webhook configuration (the vendor's PUT sets every field)."""
        self.config = {
            "webhookUrl": url,
            "webhookEnabled": enabled,
            "webhookSubscriptions": list(dict.fromkeys(subscriptions)),
        }


DEFAULT_CONFIG: dict[str, Any] = {
    "webhookUrl": None,
    "webhookEnabled": False,
    "webhookSubscriptions": [],
}


def for_snapshot(delivery: Delivery) -> Delivery:
    """A delivery as a snapshot keeps it: a try still in flight (its outcome unknown) is due
    again at once after a restore, so no event is lost between a save and a restore."""
    if not delivery.in_flight:
        return delivery
    return replace(delivery, in_flight=False, next_due=delivery.last_attempt_date)


def envelope(delivery: Delivery) -> dict[str, Any]:
    """What a receiver is POSTed (Decoda's guide): the event, the same for every webhook."""
    return {
        "id": delivery.event_id,
        "type": delivery.type,
        "data": delivery.data,
        "createdDate": _iso(delivery.created_date),
        "alertId": delivery.alert_id,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _check_url(url: str, allowed_hosts: tuple[str, ...]) -> None:
    problem = refusal(url, allowed_hosts)
    if problem is not None:
        raise ValidationFailed([Issue("body", ("url",), problem, "url_not_allowed")])
