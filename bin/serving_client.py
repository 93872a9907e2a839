#!/usr/bin/env python
"""Sends a media file to a TensorFlow Serving model and prints per-frame arousal/valence.

    python bin/serving_client.py --media=talk.wav --model_name=emotion_audio --protocol=grpc

REST (`POST /v1/models/NAME:predict`, port 8501) or gRPC (`PredictionService.Predict`, port
8500). Audio models read the WAV/MP4 audio; visual and multimodal models read the MP4's
frames (one per 40 ms) and crop the face. `--signature=wav` sends the WAV bytes as they are
(16 kHz PCM); `--signature=examples` sends serialized tf.train.Example frames. The model's
modality is read from the server's model metadata unless --modality is given. Prints CSV
(frame,time_seconds,arousal,valence) to stdout or --output_csv.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet


import sys

from absl import app, flags, logging

from tfrecords_tools.output_paths import register_output_checks
from tfrecords_tools.schema import DEFAULT_FACE_MODE, FACE_MODES

FLAGS = flags.FLAGS
flags.DEFINE_string("media", None, "WAV/MP4 (audio models) or MP4 (visual, multimodal) file.")
flags.DEFINE_string("audio_media", None, "Audio recorded apart (a WAV), instead of --media.")
flags.DEFINE_string("video_media", None, "Video recorded apart (an MP4), instead of --media.")
flags.DEFINE_string("model_name", None, "Served model name.")
flags.DEFINE_integer("model_version", None, "Served version (default: the latest).", lower_bound=1)
flags.DEFINE_string("host", "127.0.0.1", "TF Serving host.")
flags.DEFINE_enum("protocol", "grpc", ["rest", "grpc"], "Request API.")
flags.DEFINE_integer("rest_port", 8501, "REST port (--protocol=rest).", lower_bound=1)
flags.DEFINE_integer("grpc_port", 8500, "gRPC port (--protocol=grpc).", lower_bound=1)
flags.DEFINE_enum(
    "signature", "serving_default", ["serving_default", "wav", "examples"], "Signature to call."
)
flags.DEFINE_enum(
    "modality", None, ["audio", "visual", "multimodal"], "Model modality (default: ask the server)."
)
flags.DEFINE_enum(
    "face_mode", DEFAULT_FACE_MODE, list(FACE_MODES), "Face crop: detector or centre."
)
flags.DEFINE_enum(
    "image_format", "jpeg", ["jpeg", "png"], "Crop encoding for --signature=examples."
)
flags.DEFINE_enum("rest_format", "columnar", ["columnar", "row"], "REST JSON: inputs or instances.")
flags.DEFINE_integer("max_frames", None, "Only the first N frames (40 ms each).", lower_bound=1)
flags.DEFINE_float("timeout", 60.0, "Request timeout in seconds.", lower_bound=0.1)
flags.DEFINE_string("output_csv", None, "Write the CSV here instead of stdout.")
flags.mark_flags_as_required(["model_name"])
register_output_checks(flags, files=["output_csv"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from e2e_emotion.export.serving_client import ServingClientError, client_command
    from e2e_emotion.predict import PredictError, media_sources
    from tfrecords_tools.media import MediaError

    rest = FLAGS.protocol == "rest"
    try:
        media = media_sources(FLAGS.media, FLAGS.audio_media, FLAGS.video_media)
        text = client_command(
            output_csv=FLAGS.output_csv,
            media=media,
            model_name=FLAGS.model_name,
            protocol=FLAGS.protocol,
            host=FLAGS.host,
            port=FLAGS.rest_port if rest else FLAGS.grpc_port,
            signature=FLAGS.signature,
            modality=FLAGS.modality,
            version=FLAGS.model_version,
            face_mode=FLAGS.face_mode,
            max_frames=FLAGS.max_frames,
            image_format=FLAGS.image_format,
            rest_format=FLAGS.rest_format,
            timeout=FLAGS.timeout,
        )
    except (ServingClientError, PredictError, MediaError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    print(text, end="" if text.endswith("\n") else "\n")


if __name__ == "__main__":
    app.run(main)
