-- Refresh tokens keyed by family and generation, which a token names
-- ("FAMILY.GENERATION.SECRET"): a rotation writes one index where it
-- wrote two, the primary key by hash and the family's. The hash stays, to
-- be checked. Rows are kept as they were; a token issued before this
-- migration names no family and is no longer accepted: its customer logs
-- in again.
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_pkey;
DROP INDEX refresh_tokens_family;
ALTER TABLE refresh_tokens ADD PRIMARY KEY (family_id, generation);
