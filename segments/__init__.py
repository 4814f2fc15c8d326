"""The condition vocabulary shared by journeys, behaviors and segments (Python evaluator; the SQL
compiler and segments themselves come with the segments work)."""
