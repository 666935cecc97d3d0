"""The Zuora side: HTTP client, OAuth, AQuA export jobs, ZOQL, describe, the model catalog and extraction."""
