"""Journeys: the document, its validation, the pure engine, and (as they arrive) the runtime."""
