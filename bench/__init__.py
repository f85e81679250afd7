"""Load benchmark: Canopy's order endpoint against a bare DRF insert (see bench/README.md)."""
