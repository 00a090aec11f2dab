-- Day unions gain a dimension, the service that reported, and the
-- services and sources unions a value of their own, "*", for the buckets
-- that kept only some of theirs, which a scope by them cannot decide.
-- A union day records the version of the unions made for it: the days
-- made before this migration, or by an older Mayfly after it, are 0, and
-- a newer one neither reads them nor takes them for made: its
-- maintenance makes them again, and until it has a scope reads the
-- day's buckets.
ALTER TABLE ledger_union_days ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
