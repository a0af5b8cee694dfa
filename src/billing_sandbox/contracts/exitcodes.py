"""What `billing-sandbox contract` exits with, whichever action ran: 0 when all is good, 1 when
something differs (an interaction failed, a finding), 2 when the command could not run. CI
tells a broken contract from a broken setup by these."""

from __future__ import annotations

PASSED_ALL, DIFFERS, MISUSE = 0, 1, 2
