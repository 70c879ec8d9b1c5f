"""Describing the segments for people: KPIs, personas, recommendations with A/B plans, and the
changes since the previous run."""
