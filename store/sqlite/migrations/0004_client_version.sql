-- Client versions: an update names the version it read, so that two
-- updates of a client's owner or secret cannot undo each other.
ALTER TABLE clients ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
