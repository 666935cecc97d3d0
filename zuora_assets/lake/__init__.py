"""The lake: Hive-partitioned Parquet files of each model, written safely and read back lazily.

`storage` (local folder or S3), `layout` (the keys), `parquet` (file settings), `transfer` (write_transfer:
replace/append per partition), `manifest` (committed transfers, high-water mark), `readers` (datasets).
It knows nothing of Zuora or Dagster: it takes Arrow schemas and record batches.
"""
