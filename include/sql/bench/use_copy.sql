-- Make unqualified table names resolve to the benchmark copy first.
SET search_path = bench_copy, public
