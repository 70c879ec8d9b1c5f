"""Learning the model on the fit sample: k, K-Means, stability, alternatives, segment identities
across months, and the explanations of K-Means (exact SHAP, LIME, rules)."""
