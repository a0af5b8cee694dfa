"""The dashboard: the sandbox's inside, in a browser (`/_sandbox/ui/`)."""
