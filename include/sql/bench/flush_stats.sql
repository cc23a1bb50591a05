-- Make this session's table statistics (HOT update counts) visible to pg_stat_* now.
SELECT pg_stat_force_next_flush()
