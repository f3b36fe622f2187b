"""HTTP: the Litestar app, the one error-to-status mapping, bearer authentication and
rate limits. Each service's routes live beside it (`services/<service>/api.py`)."""
