"""The spec stage: load and compile the OpenAPI documents, and check requests against them."""
