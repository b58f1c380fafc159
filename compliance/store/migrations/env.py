"""Alembic environment: migrations run on the engine the Store hands over (SQLite or PostgreSQL)."""

from alembic import context
from sqlmodel import SQLModel

from compliance.store import tables  # noqa: F401 - registers the tables on SQLModel.metadata

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
