-- A clock's deadline before its first extension: caps on extensions count from it.
ALTER TABLE clocks ADD COLUMN extended_from BIGINT;
