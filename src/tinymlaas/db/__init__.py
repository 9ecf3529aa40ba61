"""Database plumbing: declarative base, engine/session factory, migrations."""
