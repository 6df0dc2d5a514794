"""mlregistry: a self-hosted ML registry control plane that speaks TrueFoundry's ML API."""

__version__ = "0.1.0"
