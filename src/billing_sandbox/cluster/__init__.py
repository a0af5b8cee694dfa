"""`billing-sandbox cluster`: sandboxes sharded by tenant behind HAProxy."""
