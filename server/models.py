"""Every table, for Alembic and the tests: the one place that imports all models."""

from __future__ import annotations

import auth.models  # noqa: F401  (registers the tables)
import boards.models  # noqa: F401
from foundation.db import Base

metadata = Base.metadata
