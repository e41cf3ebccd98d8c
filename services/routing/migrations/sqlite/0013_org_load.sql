-- An organisation's open referrals, kept as a number instead of counted at
-- every routing decision (see the PostgreSQL migration of the same number).
-- Triggers append to org_load_changes; routing folds the changes into
-- org_load every second. Open states: 1 requested, 2 received, 3 accepted,
-- 5 in progress, 6 on hold.
CREATE TABLE org_load (
    org_id TEXT PRIMARY KEY,
    open INTEGER NOT NULL
);

CREATE TABLE org_load_changes (
    id INTEGER PRIMARY KEY,
    org_id TEXT NOT NULL,
    delta INTEGER NOT NULL
);
CREATE INDEX org_load_changes_org ON org_load_changes (org_id);

INSERT INTO org_load (org_id, open)
SELECT org_id, COUNT(*) FROM referrals WHERE state IN (1, 2, 3, 5, 6) GROUP BY org_id;

CREATE TRIGGER referrals_opened AFTER INSERT ON referrals WHEN NEW.state IN (1, 2, 3, 5, 6)
BEGIN
    INSERT INTO org_load_changes (org_id, delta) VALUES (NEW.org_id, 1);
END;

CREATE TRIGGER referrals_moved AFTER UPDATE OF state, org_id ON referrals
WHEN (OLD.state IN (1, 2, 3, 5, 6)) <> (NEW.state IN (1, 2, 3, 5, 6)) OR OLD.org_id <> NEW.org_id
BEGIN
    INSERT INTO org_load_changes (org_id, delta) SELECT OLD.org_id, -1 WHERE OLD.state IN (1, 2, 3, 5, 6);
    INSERT INTO org_load_changes (org_id, delta) SELECT NEW.org_id, 1 WHERE NEW.state IN (1, 2, 3, 5, 6);
END;

CREATE TRIGGER referrals_removed AFTER DELETE ON referrals WHEN OLD.state IN (1, 2, 3, 5, 6)
BEGIN
    INSERT INTO org_load_changes (org_id, delta) VALUES (OLD.org_id, -1);
END;

-- Only the count read it.
DROP INDEX referrals_open_by_org;
