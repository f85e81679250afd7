"""Approvals' tests: the policies and quota APIs, quota_effect, the factories of both."""
