"""The embedded backend: the Repository on one SQLite file (repository.py), its analytics and
claims halves (analytics.py, claims.py) and their row mapping (_common.py).

Opened through :func:`enlarger.db.factory.open_repository` (a ``sqlite://`` URL).
"""
