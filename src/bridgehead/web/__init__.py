"""The web application: JSON API and server-rendered pages in one FastAPI process."""
