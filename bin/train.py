#!/usr/bin/env python
"""Trains an audio, visual or multimodal model on TFRecords with the CCC loss.

    python bin/train.py --records=data/records --model_dir=runs/audio --modality=audio

One CPU or GPU by default; `--strategy=mirrored` uses all local GPUs (or
`--logical_cpus=N` CPU devices); `--strategy=multiworker` reads TF_CONFIG. Re-running the
same command resumes from the last checkpoint. Settings not given come from `--recipe`
(`small` by default, `paper` for the paper's); the multimodal model is trained after the
two unimodal ones: `--modality=multimodal --init_audio=runs/audio --init_visual=runs/visual`
(with the `small` recipe it then starts as their late fusion).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet


import json
import sys

from absl import app, flags, logging

from tfrecords_tools.output_paths import register_output_checks

FLAGS = flags.FLAGS
flags.DEFINE_string("records", None, "Directory written by bin/make_tfrecords.py.")
flags.DEFINE_string("model_dir", None, "Checkpoints, logs, best and final models.")
flags.DEFINE_enum("modality", "audio", ["audio", "visual", "multimodal"], "Model.")
flags.DEFINE_enum(
    "recipe",
    "small",
    ["small", "paper"],
    "Every setting below that is not given: small (models that train in minutes on 2 CPU "
    "cores, the multimodal one from the late fusion of the two unimodal ones) or paper "
    "(Tzirakis et al. 2017); see e2e_emotion/training/recipes.py.",
)
flags.DEFINE_enum("speech_preset", None, ["paper", "reference"], "Speech network preset.")
flags.DEFINE_integer("lstm_units", None, "LSTM units per layer.", lower_bound=1)
flags.DEFINE_integer("lstm_layers", None, "LSTM layers (2).", lower_bound=1)
flags.DEFINE_enum("lstm_type", None, ["standard", "peephole"], "LSTM cell (standard).")
flags.DEFINE_float(
    "input_dropout", None, "Dropout on the raw waveform (0; the paper's code: 0.5).", 0.0, 0.99
)
flags.DEFINE_integer(
    "level_norm_frames",
    None,
    "Causal recording-level gain normalisation of the waveform before the speech network: "
    "the prior's weight in 40 ms frames (250 = 10 s); 0: off (the paper).",
    lower_bound=0,
)
flags.DEFINE_float(
    "level_norm_db", None, "Target frame power of the level normalisation, dBFS.", -100.0, 0.0
)
flags.DEFINE_list("resnet_blocks", None, "Bottleneck blocks per ResNet stage (3,4,6,3).")
flags.DEFINE_list("resnet_filters", None, "ResNet stage widths (64,128,256,512).")
flags.DEFINE_integer("stem_filters", None, "ResNet stem filters (64).", lower_bound=1)
flags.DEFINE_string("model_config", None, "JSON of further build_model arguments.")
flags.DEFINE_integer("sequence_length", None, "Frames per sequence (150 = 6 s).", lower_bound=1)
flags.DEFINE_integer("hop", None, "Frames between training windows (default: length).")
flags.DEFINE_integer("batch_size", None, "Global batch size (sequences).", lower_bound=1)
flags.DEFINE_integer("shuffle_buffer", None, "Training windows in the shuffle buffer (256).")
flags.DEFINE_boolean(
    "augment_video", None, "Face augmentation (shifts, brightness, saturation; on)."
)
flags.DEFINE_float("audio_gain_db", None, "Random training gain range in dB.", lower_bound=0)
flags.DEFINE_float("audio_noise", None, "Training white-noise std.", lower_bound=0)
flags.DEFINE_float(
    "speed_perturb",
    None,
    "Resample training windows by a random factor in [1-p, 1+p] (other voices); 0: off.",
    lower_bound=0,
    upper_bound=0.49,
)
flags.DEFINE_float(
    "reverb_prob", None, "Training audio in a generated room (RT60 0.1-0.8 s): probability.", 0, 1
)
flags.DEFINE_float(
    "band_limit_prob", None, "Training audio band-limited (edge 3.4-7.6 kHz): probability.", 0, 1
)
flags.DEFINE_float(
    "noise_prob",
    0.0,
    "Training audio with coloured noise or hum at 5-30 dB SNR: probability",
    0,
    1,
)
flags.DEFINE_float(
    "video_dropout",
    None,
    "Multimodal training: probability of removing a window's video (black crops, as frames "
    "without a face), so the model learns to go on the voice alone.",
    lower_bound=0,
    upper_bound=0.99,
)
flags.DEFINE_float(
    "audio_dropout",
    None,
    "Multimodal training: probability of removing a window's audio when its video is kept.",
    lower_bound=0,
    upper_bound=0.99,
)
flags.DEFINE_float("learning_rate", None, "Adam learning rate.")
flags.DEFINE_integer("steps", None, "Total training steps.")
flags.DEFINE_integer("checkpoint_every", 100, "Steps between checkpoints.")
flags.DEFINE_integer("eval_every", 100, "Steps between dev evaluations (0: never).")
flags.DEFINE_integer("log_every", 10, "Steps between log rows.")
flags.DEFINE_string("train_split", "train", "Training split.")
flags.DEFINE_string("eval_split", "dev", "Split for the best-model choice.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multiworker"], "Distribution.")
flags.DEFINE_integer("logical_cpus", 0, "With --strategy=mirrored: split the CPU in N devices.")
flags.DEFINE_string("init_audio", None, "Trained audio model (dir or .keras) to start from.")
flags.DEFINE_string("init_visual", None, "Trained visual model (dir or .keras) to start from.")
flags.DEFINE_boolean(
    "freeze_features", False, "Train the LSTM head only; feature networks as initialised."
)
flags.DEFINE_boolean(
    "freeze_batch_norm",
    False,
    "Keep the BatchNorm statistics of --init_visual (inference mode); convolutions train.",
)
flags.DEFINE_enum(
    "init_head",
    None,
    ["random", "late_fusion"],
    "Multimodal recurrent head: random (the paper) or late_fusion (the --init_audio and "
    "--init_visual heads side by side, blended per dimension as best on --eval_split; "
    "--lstm_units must be their sum).",
)
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_enum(
    "jit_compile",
    "auto",
    ["auto", "true", "false"],
    "XLA training step (auto: audio models, default strategy).",
)
flags.DEFINE_boolean("mixed_precision", False, "mixed_bfloat16 model (CCC in float32).")
flags.DEFINE_enum("lr_schedule", None, ["constant", "cosine"], "Learning-rate schedule.")
flags.DEFINE_integer("warmup_steps", None, "Linear warm-up steps of the cosine schedule.")
flags.DEFINE_integer("patience", 0, "Stop after N evaluations without a better dev CCC (0: never).")
flags.DEFINE_boolean("restore_best", True, "final/ holds the model with the best dev CCC.")
flags.DEFINE_enum(
    "eval_context",
    "recording",
    ["recording", "window"],
    "Evaluation: LSTM state carried over each whole recording, or reset every window.",
)
flags.DEFINE_enum(
    "select_on", None, ["mean", "arousal", "valence"], "Dev CCC that chooses the best model."
)
flags.DEFINE_boolean(
    "select_above_start",
    None,
    "With --init_head=late_fusion: choose a fine-tuned model only if its dev CCC is at least "
    "the late-fusion start's on every dimension.",
)
flags.DEFINE_boolean("eval_train", True, "Also score the train split in inference mode.")
flags.DEFINE_boolean("baseline", True, "Log the handcrafted baseline's dev CCC beside the model's.")
flags.DEFINE_boolean(
    "allow_config_change",
    False,
    "Resume a trained --model_dir with other data, seed or optimiser settings (refused "
    "otherwise; the change is recorded in its config.json).",
)
flags.mark_flags_as_required(["records", "model_dir"])
register_output_checks(flags, directories=["model_dir"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from e2e_emotion.evaluation.report import EvaluationError, baseline_reference
    from e2e_emotion.training import cli

    try:
        reference = None
        if FLAGS.baseline and FLAGS.eval_every:
            reference = baseline_reference(
                FLAGS.records, FLAGS.modality, FLAGS.train_split, FLAGS.eval_split
            )
        cli.train_from_flags(FLAGS, json.loads(FLAGS.model_config or "{}"), reference)
    except (*cli.user_errors, EvaluationError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    app.run(main)
