"""The REST API: routers under /api, plus health endpoints."""
