"""Pydantic wire types. No ORM here."""
