"""The HTTP API: the app factory, the error envelope, request guards, and the routers of every domain."""
