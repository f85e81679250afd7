"""Autoscaling's tests: groups scaled by policies and schedules, their rules, pages, dashboard."""
