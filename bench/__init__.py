"""CareBridge benchmarks: run by hand or with `make bench`, never in CI."""
