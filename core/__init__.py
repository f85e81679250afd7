"""The ground every Canopy app stands on: tenancy (organizations, projects, memberships and the
object permissions they grant), the audit trail, notifications, the transactional outbox, the
`lifecycle_changed` signal, and the small shared helpers (prepared reads, a cache that fails soft,
labels for people, list pagination and filters). It imports no other Canopy app."""
