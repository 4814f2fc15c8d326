"""Ingestion (the Segment HTTP Tracking API), profiles and identity, the activity store."""
