"""Benchmarks, run with `make bench` (`python -m bench <subcommand>`). Never against the dev database: each run works
in a clone (`CREATE DATABASE ... TEMPLATE`) of a bench template database."""
