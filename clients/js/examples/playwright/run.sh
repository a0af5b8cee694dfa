#!/usr/bin/env bash
# The Playwright example, start to finish: build the package, install the example's locked
# dependencies, type-check it, and run its browser tests headless in Debian's Chromium (no
# browser is ever downloaded) against a sandbox the run starts on a free loopback port.
# Arguments go to `playwright test` (`bash run.sh --workers=1`, `bash run.sh -g retry`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
package="$(cd "$here/../.." && pwd)"

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
    echo "run.sh: no Chromium at $CHROMIUM: apt-get install chromium, or set CHROMIUM" >&2
    exit 1
fi
# The sandbox: BILLING_SANDBOX_URL's, else one started from BILLING_SANDBOX_BIN, else from
# `billing-sandbox` on PATH, else from this checkout's virtual environment.
if [ -z "${BILLING_SANDBOX_URL:-}" ] && [ -z "${BILLING_SANDBOX_BIN:-}" ] \
    && ! command -v billing-sandbox > /dev/null; then
    checkout_bin="$package/../../.venv/bin/billing-sandbox"
    if [ ! -x "$checkout_bin" ]; then
        echo "run.sh: no billing-sandbox: pip install billing-sandbox, or set" \
            "BILLING_SANDBOX_BIN (or BILLING_SANDBOX_URL, for one already running)" >&2
        exit 1
    fi
    export BILLING_SANDBOX_BIN="$checkout_bin"
fi

cd "$package"
timeout 300 npm ci --no-audit --no-fund --loglevel=error
timeout 120 npm run --silent build
cd "$here"
timeout 300 npm ci --no-audit --no-fund --loglevel=error
timeout 120 npx tsc --noEmit
# The runner's own limits (playwright.config.ts) come first; this one ends it, with the
# browsers and the sandbox it started (timeout signals the whole process group), if not.
timeout --kill-after=10 300 npx playwright test "$@"
