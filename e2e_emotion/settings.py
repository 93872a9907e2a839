"""Settings declared once: a dataclass field carries its default, its help and its flag.

The configuration dataclasses (``SpeechConfig``, ``VisualConfig``, ``HeadConfig``,
``LevelConfig``, ``SequenceConfig``, ``TrainConfig``) declare each setting with
``setting(default, help, ...)``. ``define_flags`` turns the fields that have a help text
into absl flags (name, type, bounds, choices and help from the field), and
``given_values`` reads back the flags a user gave. So a setting's name, default and help
are written in one place, and a new field is a new flag.

Imports nothing heavy: the scripts define their flags before TensorFlow is loaded.
"""

from __future__ import annotations

import dataclasses

_KINDS = ("string", "integer", "float", "boolean", "enum", "int_list", "tristate")
# A ``tristate`` field (``None``, ``True`` or ``False``) is a flag of these words.
TRISTATE = {"auto": None, "true": True, "false": False}


def setting(
    default,
    help=None,
    *,
    flag=None,
    choices=None,
    lower=None,
    upper=None,
    kind=None,
    recipe=False,
):
    """A dataclass field with its flag's description.

    Args:
        default: the field's default (a list or tuple default is copied per instance).
        help: the flag's help text; a field without one has no flag.
        flag: the flag's name when it is not the field's.
        choices: the allowed values (an enum flag).
        lower, upper: bounds of a numeric flag.
        kind: one of ``_KINDS`` when the default does not tell (``None`` defaults).
        recipe: the training recipe sets the value unless the flag is given (see
            ``define_flags``).
    """
    if kind is None:
        kind = _kind_of(default, choices)
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, received {kind!r}")
    metadata = {
        "help": help,
        "flag": flag,
        "choices": tuple(choices) if choices else None,
        "lower": lower,
        "upper": upper,
        "kind": kind,
        "recipe": recipe,
    }
    if default is dataclasses.MISSING:  # a required field
        return dataclasses.field(metadata=metadata)
    if isinstance(default, (list, tuple)):
        value = tuple(default)
        return dataclasses.field(default_factory=lambda: list(value), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _kind_of(default, choices):
    if choices:
        return "enum"
    if isinstance(default, bool):
        return "boolean"
    if isinstance(default, int):
        return "integer"
    if isinstance(default, float):
        return "float"
    if isinstance(default, (list, tuple)):
        return "int_list"
    return "string"


def flag_fields(config_type):
    """``[(flag name, field)]`` of the fields of ``config_type`` that have a flag."""
    found = []
    for field in dataclasses.fields(config_type):
        if field.metadata.get("help"):
            found.append((field.metadata["flag"] or field.name, field))
    return found


def default_of(field):
    """The field's default value (a fresh list for list defaults)."""
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def define_flags(config_type, flag_values, from_recipe=False):
    """Defines an absl flag for every field of ``config_type`` that has a help text.

    The flag of a recipe field (or of every field, with ``from_recipe``) defaults to
    ``None``: not given, the training recipe's value applies, else the field's default.
    Any other flag defaults to the field's default. Returns the flag names.
    """
    from absl import flags

    names = []
    for name, field in flag_fields(config_type):
        meta = field.metadata
        help_text = meta["help"]
        default = default_of(field)
        if from_recipe or meta["recipe"]:
            shown = ",".join(str(v) for v in default) if isinstance(default, list) else default
            help_text += f" (not given: the recipe's value, else {shown})"
            default = None
        bounds = {"lower_bound": meta["lower"], "upper_bound": meta["upper"]}
        kind = meta["kind"]
        if kind == "enum":
            flags.DEFINE_enum(name, default, list(meta["choices"]), help_text, flag_values)
        elif kind == "integer":
            flags.DEFINE_integer(name, default, help_text, flag_values=flag_values, **bounds)
        elif kind == "float":
            flags.DEFINE_float(name, default, help_text, flag_values=flag_values, **bounds)
        elif kind == "boolean":
            flags.DEFINE_boolean(name, default, help_text, flag_values)
        elif kind == "tristate":
            words = {value: word for word, value in TRISTATE.items()}
            flags.DEFINE_enum(name, words[default], list(TRISTATE), help_text, flag_values)
        elif kind == "int_list":
            if default is not None:
                default = [str(value) for value in default]
            flags.DEFINE_list(name, default, help_text, flag_values)
        else:
            flags.DEFINE_string(name, default, help_text, flag_values)
        names.append(name)
    return names


def given_values(config_type, flag_values):
    """``{field name: value}`` of the flags of ``config_type`` that hold a value (a recipe
    field's flag left at ``None`` is not given). Integer lists are parsed.

    Raises:
        ValueError: an integer list flag holds something else, naming the flag.
    """
    values = {}
    for name, field in flag_fields(config_type):
        value = getattr(flag_values, name)
        if value is None:
            continue
        if field.metadata["kind"] == "tristate":
            value = TRISTATE[value]
        elif field.metadata["kind"] == "int_list":
            try:
                value = [int(item) for item in value]
            except ValueError:
                raise ValueError(f"--{name}={','.join(value)}: expected integers") from None
        values[field.name] = value
    return values


def take_fields(config_type, arguments):
    """``(taken, rest)``: the entries of the dict ``arguments`` that are fields of
    ``config_type``, and the others."""
    names = {field.name for field in dataclasses.fields(config_type)}
    taken = {key: value for key, value in arguments.items() if key in names}
    rest = {key: value for key, value in arguments.items() if key not in names}
    return taken, rest
