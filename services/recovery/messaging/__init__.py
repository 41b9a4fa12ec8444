"""Topic adapters of recovery: each batch of records as use-case calls (`subscribers`)."""
