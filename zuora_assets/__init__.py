"""zuora-athena: Zuora billing data into your own S3 lake, queryable in Athena, as Dagster assets."""
