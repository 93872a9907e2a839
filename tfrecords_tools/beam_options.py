"""Apache Beam's pipeline options from ``--beam_pipeline_options``, checked.

Beam drops an option it does not know with a log line and runs anyway, so a misspelt
``--direct_num_worker=2`` would silently run one worker: here it is an error.
"""

from __future__ import annotations


def pipeline_options(args, flag="--beam_pipeline_options"):
    """``PipelineOptions`` of ``args`` (Beam's own command-line options).

    Raises:
        ValueError: Apache Beam is not installed (the message gives the command), or an
            option Beam does not know or a value it cannot parse, naming ``flag`` and the
            option.
    """
    try:
        import apache_beam  # noqa: F401 (the extra itself, then its options module)
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError:
        raise ValueError("--runner=beam needs Apache Beam: pip install -e '.[cpu,beam]'") from None

    options = PipelineOptions(list(args))
    try:
        known = options.get_all_options()
        given = options.get_all_options(retain_unknown_options=True)
    except BaseException as error:  # Beam's argparse exits on a value it cannot parse
        raise ValueError(f"{flag}: Beam cannot parse {' '.join(args)!r} ({error})") from None
    unknown = sorted(set(given) - set(known))
    if unknown:
        names = ", ".join(f"--{name}" for name in unknown)
        raise ValueError(f"{flag}: Beam does not know {names} (it would ignore it)")
    return options
