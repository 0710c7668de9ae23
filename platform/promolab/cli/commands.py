"""Command modules registered on the app (imported for their side effect)."""
