"""Bench databases: a migrated template built once, cloned fresh for each measurement. Names come from
BENCH_DATABASE (default matchdesk_bench) on the server of DATABASE_URL; the dev database is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import environ
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
environ.Env.read_env(ROOT / ".env", overwrite=False)


def bench_name() -> str:
    return os.environ.get("BENCH_DATABASE", "matchdesk_bench")


def _server() -> dict:
    url = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    if url["NAME"] == bench_name() or url["NAME"] == f"{bench_name()}_template":
        raise SystemExit("DATABASE_URL points at a bench database: point it at the dev database's server instead")
    return {
        "host": url.get("HOST") or "127.0.0.1",
        "port": url.get("PORT") or 5432,
        "user": url.get("USER") or "postgres",
        "password": url.get("PASSWORD") or None,
    }


def database_url(name: str) -> str:
    s = _server()
    auth = s["user"] + (f":{s['password']}" if s["password"] else "")
    return f"postgres://{auth}@{s['host']}:{s['port']}/{name}"


def _admin() -> psycopg.Connection:
    s = {k: v for k, v in _server().items() if v is not None}
    return psycopg.connect(**s, dbname="postgres", autocommit=True)


def child_env(name: str, **extra: str) -> dict[str, str]:
    # DEBUG off: Django's debug cursor would keep every query (and its parameters) in memory.
    # SECURE off: benchmarks drive views over plain HTTP in-process; the SSL redirect would answer instead.
    return {
        **os.environ,
        "DATABASE_URL": database_url(name),
        "DEBUG": "false",
        "MANIFEST_STATIC": "false",  # no collectstatic in a bench: plain static storage
        "SECURE": "false",
        "CONN_MAX_AGE": "0",
        **extra,
    }


def ensure_template(setup_args: list[str] | None = None, *, template: str = "") -> str:
    """The migrated template (created on first use; migrations applied each time, a no-op when current)."""
    template = template or f"{bench_name()}_template"
    with _admin() as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
            print(f"created {template}", file=sys.stderr)
    env = child_env(template)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    if setup_args:
        subprocess.run([sys.executable, "-m", "bench", *setup_args], cwd=ROOT, env=env, check=True)
    return template


def clone(template: str) -> str:
    """A fresh copy of the template as the bench database."""
    name = bench_name()
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return name


def drop(name: str) -> None:
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
