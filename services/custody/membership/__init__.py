"""Pack membership: which passports (modules, cells) a pack passport holds, over event time (EPCIS
AggregationEvent ADD / DELETE / OBSERVE)."""
