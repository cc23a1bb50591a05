-- Benchmark variant: the copy without the index on confidence_interval_width (allows HOT updates).
DO $$
DECLARE index_name text;
BEGIN
    SELECT indexname INTO index_name FROM pg_indexes
     WHERE schemaname = 'bench_copy' AND indexdef LIKE '%(confidence_interval_width)%';
    EXECUTE format('DROP INDEX bench_copy.%I', index_name);
END $$
