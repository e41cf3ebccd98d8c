-- The parties of each case with their personal data sealed (AES-256-GCM,
-- `<key id>:<base64>`) and keyed hashes to find the same person across cases.
-- The case's dispute blob holds only masked values.
CREATE TABLE parties (
    case_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    role INTEGER NOT NULL,
    name TEXT NOT NULL,
    resident_id_sealed TEXT,
    phone_sealed TEXT,
    resident_id_hash TEXT,
    phone_hash TEXT,
    name_phone_hash TEXT,
    PRIMARY KEY (case_id, position)
);
CREATE INDEX parties_resident_id_hash ON parties (resident_id_hash);
CREATE INDEX parties_name_phone_hash ON parties (name_phone_hash);
