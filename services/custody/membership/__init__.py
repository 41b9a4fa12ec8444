"""Pack membership: which passports (modules, cells) a pack passport holds, over event time (EPCIS
AggregationEvent ADD / DELETE / OBSERVE).

`intervals` folds every aggregation observation kept (`pack_membership_events`, written by capture in its
transaction) into stays; `usecases` answers the members of a pack and the pack of a module at an event time.

No fact of its own is published. Reporting's read model already receives each aggregation event as the
`CustodyRecorded` entry it makes in the chain of the pack and of every module it names (its custody timeline shows
them). Membership at a time is a derived answer that a late event or an error declaration rewrites in the past: a
fact stream would have to publish retractions that every consumer folds again, for a view the custody API answers
from the source. The OEM, the handlers that held the passport and authorities read it there.
"""
