"""What the request path records and meters: the journal, the request log, rate limits, and the
redaction every kept request goes through."""
