"""A package only so that `pytest assignments/` collects several assignments at once:
their test files share names."""
