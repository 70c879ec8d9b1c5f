"""A fitted model and how it applies to rows: cleaning rules, features, model.json, the pure
scoring function and the per-segment totals that merge across chunks."""
