"""Operations: counters every process shares (Redis), the Prometheus collectors that read them and the database,
JSON logs with a request id (docs/architecture.md, "Operations")."""
