"""The web console at /ui: server-rendered pages that call the services."""
