"""A multimodal recurrent head that starts as the two unimodal heads side by side.

The paper initialises the multimodal model's feature networks from the trained unimodal
models and trains its recurrent head from random weights. ``set_late_fusion_head`` also
carries the unimodal heads over: the multimodal LSTMs get ``audio units + visual units``
units, and their weights are the audio head's and the visual head's laid out in blocks
(per gate: the audio units read the speech features and the audio units' state only, the
visual units the visual features and their state), so at the start each half computes
exactly what its unimodal head computed. The output layer then blends the two heads'
outputs per dimension, ``w * audio + (1 - w) * visual``: the multimodal model starts as a
late fusion of the unimodal models, and training from there lets the halves exchange
information through the (initially zero) cross blocks. A model with ``voice_units`` (the
audio model's units) reads the audio head's output alone where a frame has no face, so at
the start it then computes exactly what the audio model computes.
"""

from __future__ import annotations

import numpy as np

from e2e_emotion.models.emotion_model import EmotionModel

GATES = 4  # Keras LSTM weight layout: i, f, c (candidate), o, each `units` columns.


class FusionError(ValueError):
    """The three models cannot be combined; the message names the sizes at fault."""


def _head_layout(model):
    config = model.get_config()
    return {
        "units": config["lstm_units"],
        "layers": config["lstm_layers"],
        "type": config["lstm_type"],
        "features": model.num_features,
    }


def check_late_fusion(model, audio_model, visual_model):
    """Raises ``FusionError`` unless the heads can be laid side by side."""
    for candidate, modality, role in (
        (model, "multimodal", "the model"),
        (audio_model, "audio", "the audio model"),
        (visual_model, "visual", "the visual model"),
    ):
        if not isinstance(candidate, EmotionModel) or candidate.modality != modality:
            found = getattr(candidate, "modality", type(candidate).__name__)
            article = "an" if modality[0] in "aeiou" else "a"
            raise FusionError(f"{role}: expected {article} {modality} EmotionModel, got {found!r}")
    target, audio, visual = (_head_layout(m) for m in (model, audio_model, visual_model))
    for key, what in (("layers", "lstm_layers"), ("type", "lstm_type")):
        if not target[key] == audio[key] == visual[key]:
            raise FusionError(
                f"{what} differs: multimodal {target[key]!r}, audio {audio[key]!r}, "
                f"visual {visual[key]!r}; the heads must have the same structure"
            )
    if target["units"] != audio["units"] + visual["units"]:
        raise FusionError(
            f"lstm_units of the multimodal model is {target['units']}: it must be the audio "
            f"model's plus the visual model's ({audio['units']} + {visual['units']} = "
            f"{audio['units'] + visual['units']})"
        )
    flag = 1 if model.voice_units else 0  # the face flag, after the visual features
    if target["features"] != audio["features"] + visual["features"] + flag:
        raise FusionError(
            f"the multimodal model reads {target['features']} features per frame, the audio "
            f"and visual models {audio['features']} + {visual['features']}"
            + (" (+ 1, the face flag)" if flag else "")
            + ": their feature networks have other sizes"
        )
    if model.voice_units and model.voice_units != audio["units"]:
        raise FusionError(
            f"voice_units of the multimodal model is {model.voice_units}: it must be the "
            f"audio model's lstm_units ({audio['units']}), the units its voice readout reads"
        )


def _side_by_side(first, second, rows_first, units_first, units_second):
    """Block layout of two ``[rows, 4 * units]`` gate matrices (or ``[4 * units]`` biases)."""
    units = units_first + units_second
    if first.ndim == 1:
        out = np.zeros([GATES * units], first.dtype)
        for gate in range(GATES):
            out[gate * units : gate * units + units_first] = first[
                gate * units_first : (gate + 1) * units_first
            ]
            out[gate * units + units_first : (gate + 1) * units] = second[
                gate * units_second : (gate + 1) * units_second
            ]
        return out
    out = np.zeros([first.shape[0] + second.shape[0], GATES * units], first.dtype)
    for gate in range(GATES):
        out[:rows_first, gate * units : gate * units + units_first] = first[
            :, gate * units_first : (gate + 1) * units_first
        ]
        out[rows_first:, gate * units + units_first : (gate + 1) * units] = second[
            :, gate * units_second : (gate + 1) * units_second
        ]
    return out


def _weight_kind(variable):
    name = variable.path.rsplit("/", 1)[-1]
    for kind in ("recurrent_kernel", "kernel", "bias", "peepholes"):
        if name.startswith(kind):
            return kind
    raise FusionError(f"unexpected weight {variable.path} in the recurrent head")


def set_late_fusion_head(model, audio_model, visual_model, audio_weight):
    """Sets ``model``'s recurrent head to the unimodal heads side by side.

    Args:
        model: the multimodal ``EmotionModel`` (its LSTMs: audio + visual units).
        audio_model, visual_model: trained unimodal ``EmotionModel`` s whose feature
            networks are (or will be) the multimodal model's.
        audio_weight: per output dimension (arousal, valence), the weight ``w`` of the audio
            head's output; the visual head's gets ``1 - w``.
    """
    check_late_fusion(model, audio_model, visual_model)
    audio_weight = np.asarray(audio_weight, np.float64)
    outputs = model.get_layer("predictions").units
    if audio_weight.shape != (outputs,) or not np.all(np.isfinite(audio_weight)):
        raise FusionError(f"audio_weight must be {outputs} finite numbers, got {audio_weight}")
    units_a = audio_model.get_config()["lstm_units"]
    units_v = visual_model.get_config()["lstm_units"]
    rows_a = audio_model.num_features
    for target, first, second in zip(
        model.recurrent_layers,
        audio_model.recurrent_layers,
        visual_model.recurrent_layers,
        strict=True,
    ):
        values = []
        for variable, a, v in zip(target.weights, first.weights, second.weights, strict=True):
            kind = _weight_kind(variable)
            a, v = np.asarray(a.numpy()), np.asarray(v.numpy())
            if kind == "peepholes":
                values.append(np.concatenate([a, v], axis=-1))
            elif kind == "recurrent_kernel":
                values.append(_side_by_side(a, v, units_a, units_a, units_v))
            else:
                values.append(_side_by_side(a, v, rows_a, units_a, units_v))
            rows = tuple(variable.shape)[0]
            if kind == "kernel" and rows > values[-1].shape[0]:
                # The face flag's row (the first layer of a model with voice_units): zero,
                # so the start computes exactly what the two heads computed.
                padding = np.zeros([rows - values[-1].shape[0], values[-1].shape[1]])
                values[-1] = np.concatenate([values[-1], padding.astype(values[-1].dtype)])
        target.set_weights(values)
        rows_a = units_a  # the next layer reads [audio units | visual units]
    dense = model.get_layer("predictions")
    kernel_a, bias_a = audio_model.get_layer("predictions").get_weights()
    kernel_v, bias_v = visual_model.get_layer("predictions").get_weights()
    w = audio_weight.astype(kernel_a.dtype)
    kernel = np.concatenate([kernel_a * w, kernel_v * (1 - w)], axis=0)
    if model.voice_units:  # a frame without a face: the audio head's output alone
        dense.full.set_weights([kernel, bias_a * w + bias_v * (1 - w)])
        dense.voice.set_weights([kernel_a, bias_a])
    else:
        dense.set_weights([kernel, bias_a * w + bias_v * (1 - w)])


def choose_blend(audio_predictions, visual_predictions, score, weights=(1.0, 0.5, 0.0)):
    """Chooses per dimension the audio weight (among ``weights``) of the best blend.

    Args:
        audio_predictions, visual_predictions: ``[frames, dims]`` outputs of the late-fusion
            model with ``audio_weight`` 1 and 0 over the same frames (any other weight gives
            exactly their blend, the output layer being linear).
        score: ``score([frames, dims] predictions) -> [dims]`` (the CCC against the labels).

    Returns:
        ``(chosen weights [dims], {weight: [score per dimension]})``; on a tie the weight
        nearer 0.5 wins.
    """
    table = {}
    for weight in weights:
        blend = weight * audio_predictions + (1 - weight) * visual_predictions
        table[weight] = [float(value) for value in score(blend)]
    dims = len(table[weights[0]])
    chosen = [max(weights, key=lambda w, d=d: (table[w][d], -abs(w - 0.5))) for d in range(dims)]
    return np.asarray(chosen), table
