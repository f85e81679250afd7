"""Writes for lifecycle, one module per concern: `leases` (open, extend, warn, retire,
unretire, delete), `reclaim` (idle policies, keep marks, cases graded notify → stop → retire →
delete), `savings`, `adoption` (brownfield servers) and `tick` (the periodic task).

Policies act through provisioning's own services with `user=None` (the audit shows no actor and
the reason). The periodic work (`tick.lifecycle_tick`) takes an explicit `now` so tests move
time; every lease and every server is handled in its own short transaction under a row lock,
and each step checks what was already done, so running it twice does nothing twice."""
