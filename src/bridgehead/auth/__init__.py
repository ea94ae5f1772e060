"""Users, roles, login sessions, API tokens and the visibility rules."""
