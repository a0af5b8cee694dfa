"""Where a verification replays a pact's interactions, and how: the server and whether it is
taken for a sandbox (only then are the control token sent, the tenant reset and provider states
set), how requests are signed, whether writes may go to a vendor's server, and what one answer
may cost in time and bytes. Which server counts as a sandbox is the caller's decision."""

from __future__ import annotations

from dataclasses import dataclass, field

from billing_sandbox.contracts.replay import Signing

DEFAULT_TIMEOUT_SECONDS = 10.0
# The most of one answer read: a pact's answer is an example, not a bulk export; past this the
# answer fails the interaction rather than filling memory.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Target:
    """Where interactions are replayed, and how.

    `tenant`: on a sandbox, the tenant the credentials name (reset and given the provider
    states); None when they name none (a ready token), and then no state is set.
    `answers_like_sandbox`: not taken for a sandbox, though it answers as one (off loopback,
    and the user did not say it is one); the report says how to take it for one.
    """

    base_url: str
    signing: Signing
    sandbox: bool
    tenant: str | None = None
    control_token: str = field(default="", repr=False)
    allow_writes: bool = False
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_answer_bytes: int = MAX_ANSWER_BYTES
    answers_like_sandbox: bool = False

    @property
    def sets_states(self) -> bool:
        return self.sandbox and self.tenant is not None

    def why_no_states(self) -> str:
        if not self.sandbox and self.answers_like_sandbox:
            return f"{self.base_url} is taken for a vendor's server (see above)"
        if not self.sandbox:
            return f"{self.base_url} is not a billing-sandbox (no provider-state endpoint)"
        return "the credentials name no tenant (a ready token): give the client id or email"
