"""HTTP API under /api/v1: FastAPI routers over the application services."""
