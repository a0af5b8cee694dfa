"""Faults on demand: the rules, their injection into a call, the wire effects below HTTP, and the
edge answers (429, 502, 503, 504) a gateway in front of the vendor would give."""
