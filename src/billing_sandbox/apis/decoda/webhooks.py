"""A Decoda tenant's webhooks: registering, updating and archiving them (the URL rule is the
sandbox's own: by default only this machine's or a private network's hosts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing_sandbox.apis.decoda.records import Webhook
from billing_sandbox.clock import Clock
from billing_sandbox.errors import Issue, NotFound, ValidationFailed
from billing_sandbox.events.targets import refusal


class Webhooks:
    """The tenant's webhooks, in the order they were registered."""

    def __init__(self, new_id: Callable[[str], str], clock: Callable[[], Clock]) -> None:
        self._new_id = new_id
        # The store's clock is swapped after seeding, so it is asked for, not kept.
        self._clock = clock
        self.webhooks: dict[str, Webhook] = {}

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


def _check_url(url: str, allowed_hosts: tuple[str, ...]) -> None:
    problem = refusal(url, allowed_hosts)
    if problem is not None:
        raise ValidationFailed([Issue("body", ("url",), problem, "url_not_allowed")])
