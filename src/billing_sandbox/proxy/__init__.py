"""`billing-sandbox proxy`: the real API behind a proxy that checks each answer against our spec."""

from billing_sandbox.proxy.app import create_proxy_app

__all__ = ["create_proxy_app"]
