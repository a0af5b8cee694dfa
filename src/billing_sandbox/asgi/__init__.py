"""Raw-ASGI plumbing: header reads, prebuilt responses, dispatch by path shape, CORS, body caps and
the connection-aware uvicorn protocol. Nothing here knows an API or a tenant."""
