"""Create the database named in DATABASE_URL if it does not exist (the server must be running)."""

import os
import sys
from pathlib import Path

import environ
import psycopg
from psycopg import sql

BASE = Path(__file__).resolve().parent.parent
environ.Env.read_env(BASE / ".env", overwrite=False)


def main() -> int:
    url = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    name = url["NAME"]
    conninfo = dict(
        host=url.get("HOST") or "127.0.0.1",
        port=url.get("PORT") or 5432,
        user=url.get("USER") or "postgres",
        password=url.get("PASSWORD") or None,
        dbname="postgres",
    )
    with psycopg.connect(**{k: v for k, v in conninfo.items() if v is not None}, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return 0
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"created database {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
