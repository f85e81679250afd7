"""core's tests: the ground's factories, the outbox and cache (services), the move from portal."""
