"""The rules of the registry. No HTTP and no FastAPI types here."""
