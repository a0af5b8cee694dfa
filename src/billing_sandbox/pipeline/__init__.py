"""The request path: routes built from the specs, the one wrapper every operation goes through,
the write-ahead hook, and the replay of logged calls at start."""
