"""The store: SQLite or PostgreSQL through SQLModel, with Alembic migrations."""
