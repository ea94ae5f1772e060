"""The append-only change log written by the service layer."""
