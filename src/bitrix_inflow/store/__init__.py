"""The state store: SQLAlchemy Core tables, Alembic migrations, engine set-up for SQLite and PostgreSQL."""
