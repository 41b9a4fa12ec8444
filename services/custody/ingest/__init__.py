"""Custody steps in: native events (topic, HTTP) and EPCIS observations, checked and appended to the chains."""
