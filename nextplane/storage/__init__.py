"""
Persistence behind L{nextplane.interfaces.IStore}: in-memory, SQLite and
PostgreSQL backends, with versioned SQL migrations.
"""
