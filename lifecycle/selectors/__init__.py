"""Reads for lifecycle, one module per concern: `leases`, `reclaim` (idle policies,
cases, keep marks, the evidence and the servers the reclaim judges), `preview` (what the idle
and lease policies will do), `savings`, `dashboard` and `adoption` (brownfield servers)."""
