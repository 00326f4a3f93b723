"""The feedback store: completions, feedback, model versions and API keys in one SQL database.

SQLite file under ``ILS_HOME`` by default (WAL mode, synchronous=FULL, so a row is on disk when its
commit returns), PostgreSQL by URL (``postgresql+psycopg://user@host/db``). ``STORES`` maps a URL
scheme to the function that opens it; other packages add schemes through ``ils.stores`` entry points.
The schema is made by the Alembic migrations shipped beside this file, applied on open.
"""

from __future__ import annotations

from ils.store.db import STORES, Store, default_url, open_store

__all__ = ["STORES", "Store", "default_url", "open_store"]
