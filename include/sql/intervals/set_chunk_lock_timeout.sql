-- A chunk's pass never waits for a row lock (it skips rows other transactions hold). The only
-- locks it can wait for are the tables' own, taken when its statement starts, before it holds
-- any row: a DDL statement holding one makes the pass give up after this long (and retry),
-- so the backfill yields to it as well.
SET LOCAL lock_timeout = '200ms'
