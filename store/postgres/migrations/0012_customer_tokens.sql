-- Tokens for customers. A client may exchange subject tokens for access
-- tokens in namespaces (space-separated, as scopes), may get refresh
-- tokens whose families live refresh_idle and refresh_absolute
-- nanoseconds (0: the defaults), may have to prove possession (dpop:
-- '' or 'required'), and may be public (no credential of its own).
ALTER TABLE clients ADD COLUMN exchange TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN refresh BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN refresh_idle BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN refresh_absolute BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN dpop TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN public BOOLEAN NOT NULL DEFAULT FALSE;

-- An issued token's subject and actor where it is not its client's own
-- token (a customer's, and the login service that exchanged for it),
-- and the refresh family it came from. The index serves "which sessions
-- did this customer have" and holds only such tokens.
ALTER TABLE issuances ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE issuances ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE issuances ADD COLUMN sid TEXT NOT NULL DEFAULT '';
CREATE INDEX issuances_subject ON issuances(subject, jti) WHERE subject <> '';
