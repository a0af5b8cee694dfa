"""Events a fake sends out: where they may go, how they are signed and delivered, and retried."""
