"""The configurations, each setting declared once with its default, help and flag.

Model parts (``SpeechConfig``, ``LevelConfig``, ``VisualConfig``, ``HeadConfig``), how
frames become sequences (``SequenceConfig``) and a training run (``TrainConfig``). The
fields declared with ``settings.setting(default, help)`` are ``bin/train.py``'s flags
(``settings.define_flags``). This module imports nothing heavy (no TensorFlow), so the
scripts can define their flags and check a configuration before loading TensorFlow.
"""

from __future__ import annotations

import dataclasses

from e2e_emotion import cpu
from e2e_emotion.modalities import MODALITIES
from e2e_emotion.settings import define_flags, flag_fields, given_values, setting
from tfrecords_tools.schema import FRAME_LENGTH, STREAMS

EVAL_CONTEXTS = ("recording", "window")
# Named training recipes (e2e_emotion/training/recipes.py).
RECIPES = ("small", "paper")
DEFAULT_RECIPE = "small"

SPEECH_PRESETS = {
    "paper": {"conv1_kernel": 80, "conv2_kernel": 4000, "continuous": True},
    "reference": {"conv1_kernel": 20, "conv2_kernel": 40, "continuous": False},
}

# BatchNorm moving-average momentum: Keras' 0.99 lags the weights of a network trained from
# scratch in short runs, so inference differs from training; 0.9 is PyTorch's default (0.1
# in its convention). The measurement is in docs/training.md.
BN_MOMENTUM = 0.9


@dataclasses.dataclass(frozen=True)
class SpeechConfig:
    """The speech network's settings; a field with a help text is a ``bin/train.py`` flag.

    ``conv1_kernel`` and ``conv2_kernel`` of ``None`` take the preset's value. Checked by
    ``SpeechNetwork``.
    """

    preset: str = setting(
        "paper",
        "Speech network: paper (continuous waveform, kernels 80 and 4000) or reference "
        "(each 640-sample frame alone, kernels 20 and 40: the authors' code).",
        flag="speech_preset",
        choices=tuple(SPEECH_PRESETS),
    )
    frame_length: int = FRAME_LENGTH
    conv1_filters: int = 40
    conv1_kernel: int | None = None
    pool1_size: int = 2
    conv2_filters: int = 40
    conv2_kernel: int | None = None
    channel_pool_size: int = 10
    # Off: dropout before max-pooling makes the features differ between training and
    # inference (docs/results.md); the authors' code uses 0.5.
    input_dropout: float = setting(
        0.0, "Dropout on the raw waveform (the authors' code: 0.5).", lower=0.0, upper=0.99
    )
    conv2_method: str = "auto"


# EmotionModel's name of a SpeechConfig field, where it is not the field's own.
SPEECH_MODEL_NAMES = {"preset": "speech_preset"}


@dataclasses.dataclass(frozen=True)
class LevelConfig:
    """The causal level normalisation in front of the speech network; a field with a help
    text is a ``bin/train.py`` flag."""

    level_norm_frames: int = setting(
        0,
        "Causal recording-level gain normalisation of the waveform before the speech "
        "network: the prior's weight in 40 ms frames (250 = 10 s); 0: off (the paper).",
        lower=0,
    )
    level_norm_db: float = setting(
        -30.0, "Target frame power of the level normalisation, dBFS.", lower=-100.0, upper=0.0
    )


# ResNet-50's per-frame features (512 x 4): the size bfloat16 was measured at.
RESNET50_FEATURES = 2048


def auto_xla(modality, strategy="default"):
    """``--jit_compile=auto``: XLA for the audio model with the default strategy on a CPU
    where it trains faster (``cpu.xla_trains_audio_faster``)."""
    return strategy == "default" and modality == "audio" and cpu.xla_trains_audio_faster()


def auto_bfloat16(modality, model_settings):
    """``--mixed_precision=auto``: bfloat16 for a model with a ResNet of ResNet-50's width
    (``model_settings``: ``build_model`` arguments) on a CPU with AMX bfloat16 units.
    Measured at ResNet-50 size; a small ResNet spends its step elsewhere. The audio model
    trains 2-3x faster in bfloat16 on AMX but its last dev CCC on the hard corpora was
    lower, so it stays float32 unless forced (docs/performance.md)."""
    if modality not in ("visual", "multimodal"):
        return False
    default = VisualConfig()
    widths = model_settings.get("stage_filters", default.stage_filters)
    expansion = model_settings.get("expansion", default.expansion)
    return widths[-1] * expansion >= RESNET50_FEATURES and cpu.bfloat16_trains_faster()


def has_frame_convolutions(modality, model_settings):
    """Whether the model (``model_settings``: ``build_model`` arguments) has the
    ``reference`` speech network, whose convolutions ``--bfloat16_gradients`` concerns."""
    preset = model_settings.get("speech_preset", SpeechConfig().preset)
    return modality in ("audio", "multimodal") and preset == "reference"


def auto_bfloat16_gradients(modality, model_settings):
    """``--bfloat16_gradients=auto``: on for a model with the ``reference`` speech network
    on a CPU with AMX bfloat16 units, where the convolutions' backward pass is the larger
    part of the audio step; the forward pass stays float32 (docs/performance.md)."""
    return has_frame_convolutions(modality, model_settings) and cpu.bfloat16_trains_faster()


@dataclasses.dataclass(frozen=True)
class VisualConfig:
    """The visual network's settings (ResNet-50 by default); a field with a help text is
    a ``bin/train.py`` flag. Checked by ``VisualNetwork``."""

    image_size: int = 96
    stem_filters: int = setting(64, "ResNet stem filters.", lower=1)
    stage_blocks: list = setting(
        (3, 4, 6, 3), "Bottleneck blocks per ResNet stage.", flag="resnet_blocks"
    )
    stage_filters: list = setting(
        (64, 128, 256, 512), "ResNet stage widths.", flag="resnet_filters"
    )
    expansion: int = 4
    bn_momentum: float = BN_MOMENTUM


LSTM_TYPES = ("standard", "peephole")


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """The recurrent head's settings; a field with a help text is a ``bin/train.py`` flag."""

    lstm_units: int = setting(256, "LSTM units per layer.", lower=1)
    lstm_layers: int = setting(2, "LSTM layers.", lower=1)
    lstm_type: str = setting(
        "standard",
        "LSTM cell: standard (Keras') or peephole (peepholes and cell clipping, as in the "
        "authors' code).",
        choices=LSTM_TYPES,
    )
    cell_clip: float = 100.0
    voice_units: int = setting(
        0,
        "Multimodal model: where a frame has no face (a black crop), the predictions are "
        "read from the first N units of the head's last layer alone, the voice's half of a "
        "late-fusion head, instead of from all units; 0: off.",
        lower=0,
    )
    # Dropout on the speech features alone: the face flag and the visual features of a
    # multimodal model stay whole, and the speech network itself trains as without it.
    speech_feature_dropout: float = setting(
        0.0,
        "Dropout on the speech features the recurrent head reads, in training only: fewer "
        "speech channels to lean on for one speaker; 0: off.",
        lower=0.0,
        upper=0.99,
    )


@dataclasses.dataclass(frozen=True)
class SequenceConfig:
    """How frames become training / evaluation sequences. A field's help is its
    ``bin/train.py`` flag's; the fields without a flag:

    Attributes:
        seed: shuffling and augmentation seed (the training run's).
        remove_streams: streams (``"audio"``, ``"video"``) removed from every window,
            training or evaluation: silence, black crops. For measuring what a model does
            when a microphone or the camera is lost.
    """

    sequence_length: int = setting(150, "Frames per sequence (150 = 6 s).", lower=1)
    hop: int | None = setting(
        None,
        "Frames between training windows (not given: the sequence length).",
        lower=1,
        kind="integer",
    )
    batch_size: int = setting(2, "Global batch size (sequences).", lower=1)
    shuffle_buffer: int = setting(256, "Training windows in the shuffle buffer.", lower=1)
    seed: int = 0
    augment_video: bool = setting(
        True, "Face augmentation: random shifts (pad to 110, crop 96), brightness, saturation."
    )
    audio_gain_db: float = setting(
        0.0, "Random gain in [-g, g] dB on training audio (0: off).", lower=0.0
    )
    audio_noise: float = setting(
        0.0, "Standard deviation of white noise added to training audio (0: off).", lower=0.0
    )
    speed_perturb: float = setting(
        0.0,
        "Resample each training window by a random factor in [1-p, 1+p] (faster and higher "
        "or slower and lower speech: other voices), labels and video following; 0: off.",
        lower=0.0,
        upper=0.49,
    )
    reverb_prob: float = setting(
        0.0,
        "Training audio in a generated room (RT60 0.1-0.8 s): probability.",
        lower=0.0,
        upper=1.0,
    )
    band_limit_prob: float = setting(
        0.0,
        "Training audio band-limited (edge 3.4-7.6 kHz): probability.",
        lower=0.0,
        upper=1.0,
    )
    noise_prob: float = setting(
        0.0,
        "Training audio with coloured noise or hum at 5-30 dB SNR: probability.",
        lower=0.0,
        upper=1.0,
    )
    camera_prob: float = setting(
        0.0,
        "Training faces through another camera (a window mirrored in half of the draws, "
        "with a contrast and colour cast, at a lower resolution): probability.",
        lower=0.0,
        upper=1.0,
    )
    video_dropout: float = setting(
        0.0,
        "Multimodal training: probability of removing a window's video (black crops, as "
        "frames without a face), so the model learns to go on the voice alone.",
        lower=0.0,
        upper=0.99,
    )
    audio_dropout: float = setting(
        0.0,
        "Multimodal training: probability of removing a window's audio when its video is kept.",
        lower=0.0,
        upper=0.99,
    )
    remove_streams: tuple = ()

    def __post_init__(self):
        for name in ("sequence_length", "batch_size", "shuffle_buffer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, received {value!r}")
        if self.hop is not None and (not isinstance(self.hop, int) or self.hop < 1):
            raise ValueError(f"hop must be a positive integer or None, received {self.hop!r}")
        if self.audio_gain_db < 0 or self.audio_noise < 0:
            raise ValueError("audio_gain_db and audio_noise must be >= 0")
        if not 0.0 <= self.speed_perturb < 0.5:
            raise ValueError(f"speed_perturb must be in [0, 0.5), received {self.speed_perturb!r}")
        unknown = [s for s in self.remove_streams if s not in STREAMS]
        if isinstance(self.remove_streams, str) or unknown:
            raise ValueError(
                f"remove_streams must be a tuple of {STREAMS}, received {self.remove_streams!r}"
            )
        # Probabilities; a stream dropped from every window would never be trained on.
        for name, top in (
            ("reverb_prob", "1]"),
            ("band_limit_prob", "1]"),
            ("noise_prob", "1]"),
            ("camera_prob", "1]"),
            ("video_dropout", "1)"),
            ("audio_dropout", "1)"),
        ):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0 and (top == "1]" or value < 1.0)):
                raise ValueError(f"{name} must be in [0, {top}, received {value!r}")

    @property
    def train_hop(self):
        return self.hop or self.sequence_length


STRATEGIES = ("default", "mirrored", "multiworker")
LR_SCHEDULES = ("constant", "cosine")
# What "best on dev" means: the mean CCC of the two dimensions, or one of them (an audio
# model carries arousal; its valence output says little and only adds noise to the choice).
SELECT_ON = ("mean", "arousal", "valence")
# Keys of config.json that must not change when a model directory is reused.
# (The frozen parts decide which variables the optimizer and the checkpoint hold.)
COMPATIBLE_KEYS = (
    "modality",
    "model",
    "sequence_length",
    "freeze_features",
    "freeze_batch_norm",
    "select_above_start",
)
# Keys that decide the data order, the augmentation draws or the optimiser's trajectory:
# a resumed run with another value would no longer equal an uninterrupted one, so reusing
# a trained model directory with a change is refused unless ``allow_config_change`` (the
# change is then recorded in config.json's ``config_changes``). With the cosine schedule,
# ``steps`` defines the learning-rate curve and belongs to them too.
TRAJECTORY_KEYS = (
    "sequence",
    "learning_rate",
    "seed",
    "lr_schedule",
    "warmup_steps",
    "mixed_precision",
    "bfloat16_gradients",
    "train_split",
    "freeze_batch_norm",
    "init_head",
)
INIT_HEADS = ("random", "late_fusion")


class TrainingError(RuntimeError):
    """Training cannot start or go on; the message says why and what to do."""


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs. A field's help is its ``bin/train.py`` flag's;
    the fields without a flag:

    Attributes:
        model: ``build_model`` keyword arguments (``speech_preset``, sizes, ...).
        sequence: ``SequenceConfig`` fields (sequence_length, hop, batch_size, ...).
        reference_scores: optional ``{"ccc_arousal", "ccc_valence", "ccc_mean"}`` of a
            reference (the handcrafted baseline on the eval split), logged beside the
            model's at each evaluation.
    """

    records: str = setting(dataclasses.MISSING, "Directory written by bin/make_tfrecords.py.")
    model_dir: str = setting(
        dataclasses.MISSING, "Checkpoints, logs, best and final models.", kind="string"
    )
    modality: str = setting("audio", "Model.", choices=MODALITIES)
    model: dict = dataclasses.field(default_factory=dict)
    sequence: dict = dataclasses.field(default_factory=dict)
    learning_rate: float = setting(1e-4, "Adam learning rate (the paper: 1e-4).", recipe=True)
    steps: int = setting(
        1000, "Total training steps (a resumed run continues up to this count).", recipe=True
    )
    checkpoint_every: int = setting(100, "Steps between checkpoints.")
    eval_every: int = setting(100, "Steps between dev evaluations (0: never).")
    log_every: int = setting(10, "Steps between log rows.")
    train_split: str = setting(
        "train",
        "Training split; splits joined by + train on all of them (train+dev: the final model "
        "refitted on every labelled recording, with --eval_every=0).",
    )
    eval_split: str = setting("dev", "Split for the best-model choice.")
    strategy: str = setting("default", "Distribution strategy.", choices=STRATEGIES)
    init_audio: str | None = setting(
        None,
        "Trained audio model (model directory or .keras) whose speech network initialises "
        "this model's (the paper initialises the multimodal model from the unimodal ones).",
        kind="string",
    )
    init_visual: str | None = setting(
        None,
        "Trained visual model (model directory or .keras) whose visual network initialises "
        "this model's.",
        kind="string",
    )
    freeze_features: bool = setting(
        False,
        "Train the recurrent head only: the feature networks keep the weights of "
        "--init_audio / --init_visual (both needed for the networks the model has) and run "
        "in inference mode.",
        recipe=True,
    )
    freeze_batch_norm: bool = setting(
        False,
        "The visual network's BatchNorm layers keep the statistics, scale and offset of "
        "--init_visual and run in inference mode; its convolutions train (fine-tuning with "
        "batches of few recordings, whose statistics are not the corpus').",
    )
    init_head: str = setting(
        "random",
        "Multimodal recurrent head: random (the paper) or late_fusion (the --init_audio and "
        "--init_visual heads side by side, --lstm_units their sum, their outputs blended per "
        "dimension by the weight, audio 1, 0.5 or 0, best on --eval_split; that start is "
        "evaluated as step 0, so the model kept is never worse there than the late fusion).",
        choices=INIT_HEADS,
        recipe=True,
    )
    seed: int = setting(0, "Model initialisation, data order and augmentation seed.")
    jit_compile: bool | None = setting(
        None,
        "XLA training step. auto: the audio model with the default strategy on a CPU "
        "without AMX (faster there, the same weights); not on CPUs with AMX (oneDNN's "
        "kernels win), not the models with the ResNet (faster without) nor under the "
        "Mirrored / MultiWorker strategies (docs/performance.md).",
        kind="tristate",
    )
    mixed_precision: bool | None = setting(
        None,
        "Train in mixed_bfloat16: the networks in bfloat16; the LSTM head, the predictions, "
        "the BatchNorm statistics and the CCC loss in float32. auto: on for the models with "
        "a ResNet of ResNet-50's width on a CPU with AMX bfloat16 units (faster there, dev "
        "CCC as high over three seeds), off otherwise (docs/performance.md). Prediction "
        "runs in float32.",
        kind="tristate",
    )
    bfloat16_gradients: bool | None = setting(
        None,
        "The `reference` speech network's convolutions compute their gradients in "
        "bfloat16 (oneDNN runs them on AMX tiles); their forward pass, the weights, the "
        "optimizer and the rest of the model stay float32, so training and prediction see "
        "the same features. auto: on for a model with that network on a CPU with AMX "
        "bfloat16 units (docs/performance.md). Under --mixed_precision the whole network "
        "is in bfloat16 anyway.",
        kind="tristate",
    )
    lr_schedule: str = setting(
        "constant",
        "Learning-rate schedule: constant, or cosine (linear warm-up over --warmup_steps, "
        "then cosine decay to 0 at --steps).",
        choices=LR_SCHEDULES,
        recipe=True,
    )
    warmup_steps: int = setting(0, "Linear warm-up steps of the cosine schedule.", recipe=True)
    weight_average: float = setting(
        0.0,
        "Momentum of an exponential moving average of the weights, updated every step (0: "
        "off). Evaluations score the averaged weights, and the best and final models are "
        "averaged ones; the checkpoints hold the raw weights and the average, so a resumed "
        "run goes on exactly.",
        lower=0.0,
        upper=0.9999,
        recipe=True,
    )
    patience: int = setting(
        0, "Stop after N evaluations without a better raw dev CCC (0: never stop early)."
    )
    restore_best: bool = setting(
        True,
        "final/model.keras is the model with the best raw dev CCC (the last weights stay in "
        "the checkpoints).",
    )
    eval_train: bool = setting(
        True,
        "At each evaluation also score the train split in inference mode, beside the CCC of "
        "the training batches in training mode: a large gap means the model behaves "
        "differently in training and in inference.",
    )
    reference_scores: dict | None = None
    select_on: str = setting(
        "mean",
        "The raw dev CCC that chooses the best model and counts towards --patience.",
        choices=SELECT_ON,
        recipe=True,
    )
    select_above_start: bool = setting(
        False,
        "With --init_head=late_fusion: choose a fine-tuned model only if its raw dev CCC is "
        "at least the start's on every dimension (no trading one for the other). A "
        "multimodal model trained with --video_dropout is also scored with its video "
        "removed, and kept on the mean of the two --select_on CCCs (this floor applying to "
        "the scores with the video).",
        recipe=True,
    )
    eval_context: str = setting(
        "recording",
        "Evaluation: recording (the recurrent head's state carried over each whole "
        "recording) or window (every window starts from a zero state).",
        choices=EVAL_CONTEXTS,
    )
    allow_config_change: bool = setting(
        False,
        "Resume a trained --model_dir with other data, seed or optimiser settings (refused "
        "otherwise; the change is recorded in its config.json).",
    )

    def check(self):
        if self.modality not in MODALITIES:
            raise TrainingError(f"--modality={self.modality!r}: expected one of {MODALITIES}")
        if self.strategy not in STRATEGIES:
            raise TrainingError(f"--strategy={self.strategy!r}: expected one of {STRATEGIES}")
        for name in ("steps", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise TrainingError(f"--{name} must be >= 1, received {getattr(self, name)}")
        for name in ("eval_every", "warmup_steps", "patience"):
            if getattr(self, name) < 0:
                raise TrainingError(f"--{name} must be >= 0, received {getattr(self, name)}")
        if self.eval_context not in EVAL_CONTEXTS:
            raise TrainingError(
                f"--eval_context={self.eval_context!r}: expected one of {EVAL_CONTEXTS}"
            )
        if self.select_on not in SELECT_ON:
            raise TrainingError(f"--select_on={self.select_on!r}: expected one of {SELECT_ON}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise TrainingError(
                f"--lr_schedule={self.lr_schedule!r}: expected one of {LR_SCHEDULES}"
            )
        if self.lr_schedule == "cosine" and self.warmup_steps >= self.steps:
            raise TrainingError(
                f"--warmup_steps={self.warmup_steps} must be below --steps={self.steps}"
            )
        if self.patience and not self.eval_every:
            raise TrainingError("--patience needs evaluations (--eval_every > 0)")
        if self.eval_every and self.eval_split in str(self.train_split).split("+"):
            raise TrainingError(
                f"--eval_split={self.eval_split} is part of --train_split={self.train_split}: "
                "evaluations would score and choose on training recordings. A model refitted "
                "on it keeps its last weights: pass --eval_every=0"
            )
        if not self.learning_rate > 0:
            raise TrainingError(f"--learning_rate must be > 0, received {self.learning_rate}")
        if not 0.0 <= self.weight_average < 1.0:
            raise TrainingError(
                f"--weight_average must be in [0, 1) (0: off), received {self.weight_average}"
            )
        try:
            SequenceConfig(**self.sequence)
        except (TypeError, ValueError) as error:
            raise TrainingError(f"sequence options: {error}") from None
        if self.jit_compile is True and self.strategy != "default":
            raise TrainingError("--jit_compile is supported with --strategy=default only")
        if self.init_audio and self.modality == "visual":
            raise TrainingError("--init_audio is for audio or multimodal models")
        if self.init_visual and self.modality == "audio":
            raise TrainingError("--init_visual is for visual or multimodal models")
        if self.init_head not in INIT_HEADS:
            raise TrainingError(f"--init_head={self.init_head!r}: expected one of {INIT_HEADS}")
        if self.init_head == "late_fusion":
            if self.modality != "multimodal":
                raise TrainingError("--init_head=late_fusion is for the multimodal model")
            if not (self.init_audio and self.init_visual):
                raise TrainingError(
                    "--init_head=late_fusion starts from two trained heads: it needs "
                    "--init_audio and --init_visual"
                )
            if not self.eval_every:
                raise TrainingError(
                    "--init_head=late_fusion chooses its blend on --eval_split: it needs "
                    "evaluations (--eval_every > 0)"
                )
        if self.select_above_start and self.init_head != "late_fusion":
            raise TrainingError(
                "--select_above_start compares with the late-fusion start: it needs "
                "--init_head=late_fusion"
            )
        if self.freeze_batch_norm and not self.init_visual:
            raise TrainingError(
                "--freeze_batch_norm keeps the BatchNorm statistics of a trained visual "
                f"network: the {self.modality} model needs --init_visual"
            )
        if self.freeze_features:
            needed = {"audio": ["init_audio"], "visual": ["init_visual"]}.get(
                self.modality, ["init_audio", "init_visual"]
            )
            missing = [f"--{name}" for name in needed if not getattr(self, name)]
            if missing:
                raise TrainingError(
                    f"--freeze_features keeps the feature networks as initialised: the "
                    f"{self.modality} model needs {' and '.join(missing)}"
                )

    @property
    def use_xla(self):
        if self.jit_compile is None:
            return auto_xla(self.modality, self.strategy)
        return self.jit_compile

    @property
    def use_bfloat16(self):
        if self.mixed_precision is not None:
            return self.mixed_precision
        return auto_bfloat16(self.modality, self.model)

    @property
    def use_bfloat16_gradients(self):
        if self.bfloat16_gradients is not None:
            return self.bfloat16_gradients
        return auto_bfloat16_gradients(self.modality, self.model)

    @property
    def sequence_config(self):
        return SequenceConfig(**{**self.sequence, "seed": self.seed})

    def to_json(self):
        data = dataclasses.asdict(self)
        data["sequence_length"] = self.sequence_config.sequence_length
        return data


# ---------------------------------------------------------------- bin/train.py's flags

# Model parts and the name of each field as a build_model argument, where it differs.
MODEL_CONFIGS = (
    (SpeechConfig, {"preset": "speech_preset"}),
    (LevelConfig, {}),
    (VisualConfig, {}),
    (HeadConfig, {}),
)


def define_training_flags(flag_values):
    """Defines every flag of ``bin/train.py`` on ``flag_values``: the model, sequence and
    training settings (the model and sequence flags default to ``None``: not given, the
    recipe's value applies) and the script's own (recipe, extra model arguments, logical
    CPUs, baseline)."""
    from absl import flags

    for config_type, _ in MODEL_CONFIGS:
        define_flags(config_type, flag_values, from_recipe=True)
    define_flags(SequenceConfig, flag_values, from_recipe=True)
    define_flags(TrainConfig, flag_values)
    flags.DEFINE_enum(
        "recipe",
        DEFAULT_RECIPE,
        list(RECIPES),
        "Every model and sequence setting, and each training setting that says so, that is "
        "not given: small (models that train in minutes on 2 CPU cores, the multimodal one "
        "from the late fusion of the two unimodal ones) or paper (Tzirakis et al. 2017); "
        "see e2e_emotion/training/recipes.py.",
        flag_values,
    )
    flags.DEFINE_string("model_config", None, "JSON of further build_model arguments.", flag_values)
    flags.DEFINE_integer(
        "logical_cpus",
        0,
        "With --strategy=mirrored: split the CPU in N devices.",
        flag_values=flag_values,
    )
    flags.DEFINE_boolean(
        "baseline", True, "Log the handcrafted baseline's dev CCC beside the model's.", flag_values
    )
    flags.mark_flags_as_required(["records", "model_dir"], flag_values)


def model_values(flag_values):
    """``{build_model argument: value}`` of the model flags given."""
    values = {}
    for config_type, renamed in MODEL_CONFIGS:
        for field, value in given_values(config_type, flag_values).items():
            values[renamed.get(field, field)] = value
    return values


def sequence_values(flag_values):
    """``{SequenceConfig field: value}`` of the sequence flags given."""
    return given_values(SequenceConfig, flag_values)


def training_values(flag_values):
    """``{TrainConfig field: value}`` of the training flags given (a recipe field's flag
    left unset is absent)."""
    return given_values(TrainConfig, flag_values)


def recipe_fields():
    """The ``TrainConfig`` fields whose value the recipe sets unless the flag is given."""
    return [field.name for _, field in flag_fields(TrainConfig) if field.metadata["recipe"]]
