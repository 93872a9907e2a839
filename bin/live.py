#!/usr/bin/env python
"""Arousal and valence every 40 ms from a live source (or a file played as one).

    python bin/live.py --source=talk.mp4 --model=runs/audio/tflite/stream_float32.tflite --realtime
    python bin/live.py --source=/dev/video0 --model=runs/multimodal --output_csv=live.csv
    python bin/live.py --audio_source=alsa:default --video_source=/dev/video0 --model=...

`--source` is a media file, a V4L2 device (`/dev/videoN`), `alsa:DEVICE` or an RTSP/HTTP
URL (PyAV); `--audio_source` and `--video_source` take the two streams from separate
sources instead (a microphone and a webcam, a WAV and a silent MP4), each read on its own
clock from its start. `--model` is a stream `.tflite` (bin/convert_tflite.py --kind=stream),
an export of bin/export.py (its `stream` signature) or a Keras model directory / `.keras`
(the `paper` preset with 7 frames, 280 ms, of look-ahead).
stdout gets one JSON line per 40 ms frame (`frame`, `time`, `arousal`, `valence`, `face`,
`dropped`, `latency_ms`); the summary (frames, dropped video frames, latency median / p99)
goes to stderr at the end, or to stdout alone with `--benchmark`. `--realtime` paces a file
at its own rate; when the model falls behind by more than `--max_lag` seconds, video frames
are dropped (the last face crop reused; audio never). Ctrl-C stops cleanly, the CSV kept.
`--serve=127.0.0.1:8080` also serves a live page (curves, face crop, circumplex point,
latency, dropped frames), pushed by server-sent events; it stays up after the stream ends
until Ctrl-C (`--noserve_after_end` stops it with the stream).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet

import json
import sys

from absl import app, flags, logging

from tfrecords_tools.output_paths import register_output_checks
from tfrecords_tools.schema import DEFAULT_FACE_MODE, FACE_MODES

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "source", None, "Media file, /dev/videoN, alsa:DEVICE, a stream URL or lavfi:GRAPH."
)
flags.DEFINE_string("audio_source", None, "Audio apart (a WAV, alsa:DEVICE, ...), not --source.")
flags.DEFINE_string("video_source", None, "Video apart (an MP4, /dev/videoN, ...), not --source.")
flags.DEFINE_string(
    "model", None, "Stream .tflite, SavedModel export, or a Keras model directory / .keras."
)
flags.DEFINE_boolean("realtime", False, "Pace a file at its own rate, as a live source.")
flags.DEFINE_string("output_csv", None, "Also write frame,time,arousal,valence to this CSV.")
flags.DEFINE_enum("face_mode", DEFAULT_FACE_MODE, list(FACE_MODES), "Face crop mode.")
flags.DEFINE_float("max_lag", 0.2, "Seconds behind the source before video frames drop.", 0)
flags.DEFINE_float("timeout", 10.0, "Seconds a device or network source may stall.", 0)
flags.DEFINE_integer("max_frames", None, "Stop after this many frames.", lower_bound=1)
flags.DEFINE_integer("threads", None, "Interpreter threads of a .tflite model.", lower_bound=1)
flags.DEFINE_boolean("benchmark", False, "No per-frame lines: print the summary only.")
flags.DEFINE_string("serve", None, "Serve the live page at HOST:PORT (e.g. 127.0.0.1:8080).")
flags.DEFINE_boolean(
    "serve_after_end", True, "With --serve: keep the page up after the stream ends (Ctrl-C)."
)
flags.mark_flags_as_required(["model"])
register_output_checks(flags, files=["output_csv"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    import time

    from e2e_emotion import live, live_page
    from e2e_emotion.files import atomic_path

    apart = {"audio": FLAGS.audio_source, "video": FLAGS.video_source}
    if FLAGS.source and any(apart.values()):
        raise app.UsageError("give --source (one) or --audio_source / --video_source, not both")
    if not (FLAGS.source or any(apart.values())):
        raise app.UsageError("give --source, or --audio_source and/or --video_source")
    source = FLAGS.source or {name: path for name, path in apart.items() if path}
    page = None
    if FLAGS.serve:
        try:
            page = live_page.LivePage(FLAGS.serve)
            print(f"the live page: {page.start()}", file=sys.stderr, flush=True)
        except live_page.PageError as error:
            sys.exit(f"error: {error}")

    def stream(on_frame):
        return live.run(
            source,
            FLAGS.model,
            realtime=FLAGS.realtime,
            face_mode=FLAGS.face_mode,
            max_lag=FLAGS.max_lag,
            timeout=FLAGS.timeout,
            max_frames=FLAGS.max_frames,
            num_threads=FLAGS.threads,
            on_frame=on_frame,
            page=page,
        )

    def on_frame(row, csv=None):
        if not FLAGS.benchmark:
            print(live.json_line(row), flush=True)
        if csv is not None:
            csv.write(
                f"{row['frame']},{row['time']:.2f},{row['arousal']:.6f},{row['valence']:.6f}\n"
            )

    try:
        if FLAGS.output_csv:
            with (
                atomic_path(FLAGS.output_csv, suffix=".csv") as temporary,
                open(temporary, "w", encoding="utf-8") as csv,
            ):
                csv.write("frame,time,arousal,valence\n")
                summary = stream(lambda row: on_frame(row, csv))
        else:
            summary = stream(on_frame)
    except live.LiveError as error:
        if page is not None:
            page.stop()
        sys.exit(f"error: {error}")
    print(json.dumps(summary), file=sys.stdout if FLAGS.benchmark else sys.stderr, flush=True)
    if page is not None:
        try:
            if FLAGS.serve_after_end:
                print(
                    f"the stream ended; the page stays at {page.url} (Ctrl-C stops)",
                    file=sys.stderr,
                )
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            page.stop()


if __name__ == "__main__":
    app.run(main)
