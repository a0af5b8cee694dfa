"""Entry point for `python -m billing_sandbox`."""

from billing_sandbox.cli import main

raise SystemExit(main())
