-- Every change to the credentials or the agencies is notified on the channel
-- fq_credentials, whatever made it (the CLI, another gateway, an operator's
-- SQL): a gateway keeps the credentials it looked up only while it listens
-- there, and forgets them all at each notification (gateway/src/credentials/known.rs).
CREATE FUNCTION fq_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fq_credentials', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER credentials_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credentials
    FOR EACH STATEMENT EXECUTE FUNCTION fq_credentials_changed();

CREATE TRIGGER agencies_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agencies
    FOR EACH STATEMENT EXECUTE FUNCTION fq_credentials_changed();
