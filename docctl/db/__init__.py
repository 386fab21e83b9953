"""Persistence: SQLAlchemy 2.0 models, engine and the unit of work."""
