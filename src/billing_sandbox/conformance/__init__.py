"""`billing-sandbox conformance`: our specs, run by schemathesis against any server."""

from billing_sandbox.conformance.command import main

__all__ = ["main"]
