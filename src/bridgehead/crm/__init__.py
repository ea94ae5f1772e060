"""Org units, accounts, contacts, opportunities with their stage history, activities."""
