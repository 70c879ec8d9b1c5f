"""Operations: the atomic run folder (runner), the history database and e-mail delivery."""
