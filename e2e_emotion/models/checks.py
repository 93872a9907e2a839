"""Argument checks whose errors name the argument and the value received."""

import numbers


def check_choice(argument, value, choices):
    """Raises a ValueError naming `argument` and `value` unless `value` is in `choices`."""
    if value not in choices:
        raise ValueError(
            f"Unknown {argument} {value!r}. Expected one of: {', '.join(map(repr, choices))}."
        )


def check_positive_int(argument, value):
    """Raises a ValueError naming `argument` and `value` unless it is an int > 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{argument}` must be a positive integer, received {value!r}.")


def check_unit_interval(argument, value):
    """Raises a ValueError naming `argument` and `value` unless it is a number (not a
    bool) in [0, 1): a rate or a momentum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"`{argument}` must be in [0, 1), received {value!r}.")
