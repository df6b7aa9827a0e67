"""The ASGI entry point for uvicorn workers: ``uvicorn --factory server.asgi:app_from_environment``."""

from __future__ import annotations

from starlette.applications import Starlette

from foundation.settings import load_settings
from server.app import create_app
from server.logs import configure_logging
from server.memory import limit_malloc_arenas


def app_from_environment() -> Starlette:
    # Again here for worker processes (and plain uvicorn), before the lifespan starts the database threads.
    limit_malloc_arenas()
    settings = load_settings()
    configure_logging(settings.log_level, json_lines=settings.is_production)
    return create_app(settings)
