"""The one metrics engine: SQL that reads rows set-wise (queries), pure arithmetic (compute), and
the functions pages, API and CLI call (service). Every metric of DESIGN.md section 8 is defined here once."""
