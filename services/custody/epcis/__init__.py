"""EPCIS 2.0 capture rules, CBV 2.0 event hash and custody mapping; pure functions, no I/O."""
