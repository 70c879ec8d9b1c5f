"""A run folder's files: writing and reading summary.json, segments.csv, model.json, chart data."""
