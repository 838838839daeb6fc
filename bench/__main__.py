"""`python -m bench`: every benchmark, one table, docs/PERFORMANCE.md."""

from bench.run import main

main()
