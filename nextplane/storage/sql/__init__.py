"""
The SQL stores' shared half, by role: the program runtime
(L{nextplane.storage.sql.runtime}), the tables
(L{nextplane.storage.sql.schema}), one module of SQL programs per role of
L{nextplane.storage.interfaces}, and L{nextplane.storage.sql.store.SQLStore}
combining them. The SQLite and PostgreSQL backends run the programs.
"""

__all__: list[str] = []
