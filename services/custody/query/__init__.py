"""EPCIS 2.0 queries (GS1 REST binding `GET /epcis/events`, `GET /epcis/events/{eventID}`, discovery)."""
