-- The digest of each issued token (canon.Digest): a hash of its decoded
-- header and payload, by which a service names a token it saw. Records
-- made before it was kept have none (''). No index: one on random keys
-- cost issuance 10-20% (BENCHMARKS.md), and what needs speed finds a
-- token by its jti; a search by digest scans.
ALTER TABLE issuances ADD COLUMN digest TEXT NOT NULL DEFAULT '';
