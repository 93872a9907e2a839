"""Training under tf.distribute with the CCC loss, checkpoints and best-model keeping."""

from e2e_emotion.training.distributed_loss import global_ccc, global_ccc_loss
from e2e_emotion.training.prediction import predict_split
from e2e_emotion.training.refit import RefitError, late_fusion_refit, refit_config
from e2e_emotion.training.trainer import (
    STRATEGIES,
    TrainConfig,
    Trainer,
    TrainingError,
    make_strategy,
    save_model_atomically,
    train,
    use_logical_cpus,
)

__all__ = [
    "RefitError",
    "STRATEGIES",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "global_ccc",
    "global_ccc_loss",
    "late_fusion_refit",
    "make_strategy",
    "predict_split",
    "refit_config",
    "save_model_atomically",
    "train",
    "use_logical_cpus",
]
