-- A TRUNCATE of referrals (an operator's clean-up, a restore script) fires no
-- row or statement trigger of migration 13, so the organisations' kept loads
-- would go on counting referrals that are gone. This one empties the loads
-- with it. The changes are removed before the loads, each statement waiting
-- for a fold under way, so nothing folded during the truncation survives it.
CREATE FUNCTION fq_org_load_emptied() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM org_load_changes;
    DELETE FROM org_load;
    RETURN NULL;
END
$$;

CREATE TRIGGER referrals_emptied AFTER TRUNCATE ON referrals
    FOR EACH STATEMENT EXECUTE FUNCTION fq_org_load_emptied();
