"""Say whether a database server for the test suite is reachable.

``python -m tests.support.databases postgresql|mysql`` exits 0 when a
server answers on the address the test command uses, 1 otherwise, and
prints why it will be skipped.
"""

from __future__ import annotations

import os
import sys


def reachable(engine: str) -> str | None:
    """Return None if ``engine`` answers, else the reason it does not."""
    try:
        if engine == "postgresql":
            import psycopg

            psycopg.connect(
                host=os.environ.get("SKA_TEST_PG_HOST", "127.0.0.1"),
                user=os.environ.get("SKA_TEST_PG_USER", "postgres"),
                dbname="postgres",
                connect_timeout=3,
            ).close()
        else:
            import MySQLdb

            MySQLdb.connect(
                host=os.environ.get("SKA_TEST_MYSQL_HOST", "127.0.0.1"),
                user=os.environ.get("SKA_TEST_MYSQL_USER", "root"),
                connect_timeout=3,
            ).close()
    except Exception as error:  # noqa: BLE001  (any failure means "skip it")
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None


def main() -> None:
    """Exit 0 if the engine named on the command line is reachable."""
    engine = sys.argv[1]
    problem = reachable(engine)
    if problem:
        print(f"== skipping {engine}: {problem}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
