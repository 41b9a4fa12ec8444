-- The passports whose custody log names a handler (as handler, sender or receiver): what an EPCIS query of that
-- handler's key sees events about (services/custody/query/store.py), found by index rather than by a scan.
CREATE INDEX custody_log_handler ON custody_log (handler_id);
CREATE INDEX custody_log_from_handler ON custody_log (from_handler_id) WHERE from_handler_id IS NOT NULL;
CREATE INDEX custody_log_to_handler ON custody_log (to_handler_id) WHERE to_handler_id IS NOT NULL;
