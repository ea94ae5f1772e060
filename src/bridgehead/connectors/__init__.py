"""Importers and exporters: Salesforce, HubSpot, any CSV or XLSX through a mapping."""
