"""dbt-duckdb plugin: registers the project's Python functions on every DuckDB connection."""

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.sqltypes import BOOLEAN, VARCHAR

from gladly_import.email_rules import is_normalized_address, normalize_email


def register_functions(conn: DuckDBPyConnection) -> None:
    conn.create_function(
        "gladly_normalize_email", normalize_email, [VARCHAR], VARCHAR,
        null_handling="special", side_effects=False,
    )
    conn.create_function(
        "gladly_is_normalized_email", is_normalized_address, [VARCHAR], BOOLEAN,
        null_handling="special", side_effects=False,
    )


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register_functions(conn)
