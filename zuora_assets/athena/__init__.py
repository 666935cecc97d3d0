"""The catalog side: Glue tables with partition projection, `<model>_current` views, Athena queries and the
embedded DuckDB catalog. It takes table names, Arrow schemas and locations; it knows nothing of Zuora or Dagster."""
