-- The digest of each issued token (canon.Digest): a hash of its decoded
-- header and payload, by which a service names a token it saw. Records
-- made before it was kept have none (''); the index finds a token by it.
ALTER TABLE issuances ADD COLUMN digest TEXT NOT NULL DEFAULT '';
CREATE INDEX issuances_digest ON issuances(digest);
