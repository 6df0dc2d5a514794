"""Bearer-token parsing and verification, subjects, and the FastAPI dependencies that use them."""
