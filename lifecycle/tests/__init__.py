"""Lifecycle's tests: leases, idle reclaim and its preview, savings, adopting unmanaged servers."""
