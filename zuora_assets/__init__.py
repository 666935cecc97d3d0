"""zuora-athena: Zuora billing data into your own S3 lake, queryable in Athena, as Dagster assets."""

import os

# Arrow's allocator (mimalloc) keeps memory freed by another thread for a while; the extraction parses on
# one thread and the lake writes on another, so without this a 2M-row day peaked at 533 MB instead of
# 488 MB (benchmarks/bench_pipeline.py --rows 100000 --burst 2000000). Read when pyarrow loads, so it is
# set here, before anything of this package imports pyarrow; an explicit setting wins.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")
