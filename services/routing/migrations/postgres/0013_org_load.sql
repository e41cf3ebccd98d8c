-- An organisation's open referrals, kept as a number instead of counted at
-- every routing decision. Counting read one heap page per open referral of
-- every organisation covering the places of a batch, so a decision slowed as
-- referrals piled up (a fifth of PostgreSQL's statement time at 800
-- referrals/s after 30 s; docs/performance.md, twenty-eighth round).
--
-- Writers only append to org_load_changes (a trigger on referrals, one row
-- per organisation a statement moved), so no two transactions wait on one
-- organisation's row; routing folds the committed changes into org_load
-- every second (services/routing/src/load.rs). An organisation's open count
-- is its org_load row plus its changes not folded yet.
CREATE TABLE org_load (
    org_id TEXT PRIMARY KEY,
    open BIGINT NOT NULL
);

CREATE TABLE org_load_changes (
    id BIGSERIAL PRIMARY KEY,
    org_id TEXT NOT NULL,
    delta INTEGER NOT NULL
);
CREATE INDEX org_load_changes_org ON org_load_changes (org_id);

-- No referral moves between the count below and the triggers taking over.
LOCK TABLE referrals IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO org_load (org_id, open)
SELECT org_id, COUNT(*) FROM referrals WHERE state IN (1, 2, 3, 5, 6) GROUP BY org_id;

-- Open states: 1 requested, 2 received, 3 accepted, 5 in progress, 6 on hold.
-- `SET search_path FROM CURRENT`: the tables are routing's whichever connection writes the referral.
CREATE FUNCTION fq_org_load_changed() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO org_load_changes (org_id, delta)
        SELECT org_id, COUNT(*) FROM new_rows WHERE state IN (1, 2, 3, 5, 6) GROUP BY org_id;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO org_load_changes (org_id, delta)
        SELECT org_id, SUM(delta) FROM (
            SELECT org_id, 1 AS delta FROM new_rows WHERE state IN (1, 2, 3, 5, 6)
            UNION ALL
            SELECT org_id, -1 FROM old_rows WHERE state IN (1, 2, 3, 5, 6)
        ) moved GROUP BY org_id HAVING SUM(delta) <> 0;
    ELSE
        INSERT INTO org_load_changes (org_id, delta)
        SELECT org_id, -COUNT(*) FROM old_rows WHERE state IN (1, 2, 3, 5, 6) GROUP BY org_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER referrals_opened AFTER INSERT ON referrals
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fq_org_load_changed();
CREATE TRIGGER referrals_moved AFTER UPDATE ON referrals
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fq_org_load_changed();
CREATE TRIGGER referrals_removed AFTER DELETE ON referrals
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fq_org_load_changed();

-- Only the count read it.
DROP INDEX referrals_open_by_org;
