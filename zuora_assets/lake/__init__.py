"""The lake: Hive-partitioned Parquet files of each model, written safely and read back lazily.

`storage` (the interface; `local` a folder, `s3` a bucket), `layout` (the keys), `parquet` (file settings),
`transfer` (write_transfer: replace/append per partition, named by snapshot), `upload` and `commit` (its
steps), `manifest` (committed transfers), `state` (what a sync needs to start), `retention` (what the lake
forgets), `readers` (datasets), `counts` (records of a window, in bounded memory), `tempfiles` (local temp
files of killed writers).
It knows nothing of Zuora or Dagster: it takes Arrow schemas and record batches.
"""
