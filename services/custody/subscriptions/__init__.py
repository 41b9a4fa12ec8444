"""Subscriptions of EPCIS named queries."""
