"""EPCIS 2.0 webhook subscriptions: stream subscriptions of named queries, delivered by signed, retried HTTP POSTs."""
