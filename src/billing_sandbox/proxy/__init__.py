"""`billing-sandbox proxy`: the real API behind a proxy that checks each answer against our spec.

The app is in `proxy.app`; this package imports nothing itself, so the sandbox can read the
recorded-exchange format (`proxy.record`) without pulling in the proxy and, through it, itself.
"""
