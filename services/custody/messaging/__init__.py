"""The facts custody publishes, as outbox rows (shared by every slice)."""
