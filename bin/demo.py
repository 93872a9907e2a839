#!/usr/bin/env python
"""Trains one model briefly on in-memory synthetic signals, then saves and reloads it.

    python bin/demo.py --modality=multimodal --speech_preset=reference --steps=60

Prints the CCC before and after training and checks that the saved `.keras` model
reloads with identical outputs. Writes `MODALITY.keras` and a summary JSON to
`--output_dir`.
"""

from absl import app, flags

from e2e_emotion.demo import run_demo

MODALITY = flags.DEFINE_enum("modality", "multimodal", ["audio", "visual", "multimodal"], "Model.")
SPEECH_PRESET = flags.DEFINE_enum(
    "speech_preset", "reference", ["paper", "reference"], "Speech network preset."
)
STEPS = flags.DEFINE_integer("steps", 60, "Training steps.", lower_bound=1)
LEARNING_RATE = flags.DEFINE_float("learning_rate", 2e-3, "Adam learning rate.", lower_bound=0)
OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/demo", "Where the model is saved.")
LSTM_UNITS = flags.DEFINE_integer("lstm_units", 32, "LSTM units (paper: 256).", lower_bound=1)
TINY_RESNET = flags.DEFINE_boolean(
    "tiny_resnet", True, "Use a 2-stage narrow ResNet instead of ResNet-50 (fast on CPU)."
)
SEED = flags.DEFINE_integer("seed", 0, "Random seed.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    model_kwargs = {"lstm_units": LSTM_UNITS.value}
    if TINY_RESNET.value:
        model_kwargs.update(stem_filters=8, stage_blocks=(1, 1), stage_filters=(8, 16))
    run_demo(
        MODALITY.value,
        SPEECH_PRESET.value,
        STEPS.value,
        LEARNING_RATE.value,
        OUTPUT_DIR.value,
        model_kwargs,
        SEED.value,
    )


if __name__ == "__main__":
    app.run(main)
