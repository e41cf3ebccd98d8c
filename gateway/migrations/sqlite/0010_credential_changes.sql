-- Nothing on SQLite: standalone's gateway looks every credential up on every
-- call (a read of its own file); the notification is PostgreSQL's (see there).
SELECT 1;
