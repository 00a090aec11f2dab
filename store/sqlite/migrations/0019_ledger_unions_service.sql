-- Day unions gain a dimension, the service that reported, and the
-- services and sources unions a value of their own, "*", for the buckets
-- that kept only some of theirs, which a scope by them cannot decide.
-- Unions made before this lack both; the ledger's maintenance makes
-- every day's again, and until it has, a scope reads the day's buckets.
DELETE FROM ledger_unions;
DELETE FROM ledger_union_days;
