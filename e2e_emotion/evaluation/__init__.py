"""Evaluation of continuous emotion predictions (Tzirakis et al. 2017, AVEC 2016).

- ``scores``: CCC, Pearson, RMSE, bias, sd ratio; whole-split and per-recording reports
  (JSON, table); per recording, the delay of the gold standard that maximises the CCC
  (``best_delay``, the raters' lag), beside the CCC at zero delay.
- ``postprocess``: the AVEC 2016 chain (median filter, centring, scaling, time shift),
  parameters chosen on dev and applied to test.
- ``plots``: predictions vs gold standard, training curves (PNG).
- ``baseline``: handcrafted acoustic/visual features + ridge regression.

These modules use NumPy, scikit-learn and matplotlib only (no TensorFlow).
"""

from e2e_emotion.evaluation.baseline import (
    HandcraftedBaseline,
    acoustic_feature_names,
    acoustic_features,
    add_context,
    visual_feature_names,
    visual_features,
)
from e2e_emotion.evaluation.plots import (
    plot_predictions,
    plot_recordings,
    plot_training_curves,
    read_history,
)
from e2e_emotion.evaluation.postprocess import (
    STEPS,
    PostProcessor,
    apply_chain,
    label_statistics,
    median_filter,
    shift_earlier,
)
from e2e_emotion.evaluation.scores import (
    best_delay,
    bias,
    ccc,
    format_table,
    pearson,
    rmse,
    score,
    score_recordings,
    sd_ratio,
    write_json_atomic,
    write_report,
)

__all__ = [
    "STEPS",
    "HandcraftedBaseline",
    "PostProcessor",
    "acoustic_feature_names",
    "acoustic_features",
    "add_context",
    "apply_chain",
    "best_delay",
    "bias",
    "ccc",
    "format_table",
    "label_statistics",
    "median_filter",
    "pearson",
    "plot_predictions",
    "plot_recordings",
    "plot_training_curves",
    "read_history",
    "rmse",
    "score",
    "score_recordings",
    "sd_ratio",
    "shift_earlier",
    "visual_feature_names",
    "visual_features",
    "write_json_atomic",
    "write_report",
]
