"""SQLAlchemy queries, one module per aggregate. No business rules here."""
