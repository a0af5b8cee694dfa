"""Consumer contracts: pacts (Pact v2, v3 and v4 files) read, verified against a sandbox or a
vendor's server, and checked against an OpenAPI document without calling anything."""
