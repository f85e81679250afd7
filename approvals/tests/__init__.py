"""Approvals' tests: who sees which approval policy, and the factories of policies and quotas."""
