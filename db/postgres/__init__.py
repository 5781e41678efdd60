"""The production backend: the Repository on PostgreSQL through an asyncpg pool
(repository.py), its analytics and claims halves (analytics.py, claims.py), the pooled
connection and row mapping (_common.py) and a multi-host URL connected host by host for
failover (_hosts.py).

Opened through :func:`enlarger.db.factory.open_repository` (a ``postgresql://`` URL).
"""
