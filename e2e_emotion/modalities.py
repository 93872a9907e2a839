"""The model kinds, by the input streams they read: the one home of these names.

`MODALITIES` names models (`--modality`): `audio` reads the speech stream, `visual` the
face-video stream, `multimodal` both. The record streams themselves are
`tfrecords_tools.schema.STREAMS` (`audio`, `video`). This module imports nothing heavy, so
light clients (the serving client, the baseline) can use it without loading Keras.
"""

MODALITIES = ("audio", "visual", "multimodal")
# The record streams each model kind reads, audio before video.
MODALITY_INPUTS = {"audio": ("audio",), "visual": ("video",), "multimodal": ("audio", "video")}
# The model input holding the state of the audio level normalisation
# (``e2e_emotion.models.level``); the streaming step's output is ``new_`` + this name.
LEVEL_INPUT = "audio_level"
