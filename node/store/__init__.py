"""The node's SQLite file: schema, migrations, the one way writes happen, and the SQL.

Durability is the point of a node, so the file runs in WAL mode with
`synchronous=FULL` (a committed sale survives a power cut, not just a crash)
and every write is one `BEGIN IMMEDIATE` transaction: terminals in other
processes queue on the busy timeout instead of failing half-way, and the
ledger's sequence is assigned under that lock, so it is gapless.

`schema` holds the migrations, `connection` opens a file and runs a write
transaction, `ledger` is the SQL of the write path (stock, ledger, holds,
operations, catalog, meta) and `pulled` keeps what a pull brings (grants,
transfers on their way, the chain picture) and the problems met.
"""

from node.store.connection import BUSY_TIMEOUT_MS, backup, connect, immediate, open_node_file
from node.store.schema import migrations

__all__ = ["BUSY_TIMEOUT_MS", "backup", "connect", "immediate", "migrations", "open_node_file"]
