-- A chunk waits at most this long for a row lock held by a concurrent writer, then gives up
-- (and is retried). Below deadlock_timeout (1 s by default), so the backfill is always the one
-- that yields: a writer never sees a deadlock error because of it.
SET LOCAL lock_timeout = '200ms'
