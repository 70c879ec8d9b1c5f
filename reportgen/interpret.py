"""Placeholder until the interpretation work lands: fills nothing."""


def interpret(analysis, features, cleaned, fit_mask, config) -> None:
    return None
