"""The production backend: the Repository on PostgreSQL (repository.py; its analytics and claims
halves, row mapping in _common.py, multi-host failover in _hosts.py), opened through
:func:`enlarger.db.factory.open_repository` for a ``postgresql://`` URL."""
