"""jiujin intake backend: catalog, cases, queue, print jobs (Sanic + SQLAlchemy)."""
