"""Load generator and capacity measurements of the SFU (see benchmarks/README.md)."""
