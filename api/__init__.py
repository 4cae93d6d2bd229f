"""FastAPI service: submit conversations for audit, read results, agent indices."""
