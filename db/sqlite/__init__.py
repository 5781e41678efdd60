"""The embedded backend: the Repository on one SQLite file (repository.py; its analytics and
claims halves, row mapping in _common.py), opened through
:func:`enlarger.db.factory.open_repository` for a ``sqlite://`` URL."""
