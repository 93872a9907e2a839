"""Late-fusion start of the multimodal head: exact unimodal heads, blend choice, trainer."""

import dataclasses
import json

import keras
import numpy as np
import pytest
from conftest import TINY, lively, make_inputs, read_history

from e2e_emotion import build_model
from e2e_emotion.data import RecordSource
from e2e_emotion.models.fusion import (
    FusionError,
    check_late_fusion,
    choose_blend,
    set_late_fusion_head,
)
from e2e_emotion.training import TrainConfig, Trainer, TrainingError, predict_split
from e2e_emotion.training.refit import RefitError, late_fusion_refit


def _models(lstm_type="standard", units=(8, 6), mm_units=None, audio_layers=2, voice_units=0):
    def build(modality, lstm_units, layers=2, **extra):
        config = {**TINY, "lstm_units": lstm_units, "lstm_layers": layers, "lstm_type": lstm_type}
        return build_model(modality, speech_preset="reference", **config, **extra)

    audio = build("audio", units[0], audio_layers)
    visual = build("visual", units[1])
    if audio_layers == 2:
        audio, visual = lively(audio, seed=1), lively(visual, seed=2)
    multimodal = build("multimodal", mm_units or sum(units), voice_units=voice_units)
    multimodal.speech_network.set_weights(audio.speech_network.get_weights())
    multimodal.visual_network.set_weights(visual.visual_network.get_weights())
    return audio, visual, multimodal


def _read_json_lines(path):
    with open(path) as stream:
        return [json.loads(line) for line in stream]


def _saved_unimodal(tmp_path):
    """Two small unimodal models, and the .keras files they are saved in."""
    audio, visual, _ = _models()
    paths = tmp_path / "audio.keras", tmp_path / "visual.keras"
    audio.save(paths[0])
    visual.save(paths[1])
    return audio, visual, paths


def _ccc(x, y):
    covariance = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


@pytest.mark.parametrize("lstm_type", ["standard", "peephole"])
def test_late_fusion_head_computes_the_blend_of_the_unimodal_heads(lstm_type):
    audio, visual, multimodal = _models(lstm_type)
    inputs = make_inputs("multimodal", batch=2, time=7, seed=3)
    from_audio = audio({"audio": inputs["audio"]}).numpy()
    from_visual = visual({"video": inputs["video"]}).numpy()
    assert np.abs(from_audio - from_visual).max() > 0.1  # the two heads differ
    for weight in ([1.0, 0.0], [0.0, 1.0], [0.5, 0.25]):
        set_late_fusion_head(multimodal, audio, visual, weight)
        expected = np.asarray(weight) * from_audio + (1 - np.asarray(weight)) * from_visual
        np.testing.assert_allclose(multimodal(inputs).numpy(), expected, atol=2e-5)
    # The cross blocks start at zero: the audio units read no visual feature and no visual
    # unit's state (gate i of the first layer, rows of the visual features).
    kernel = multimodal.get_layer("temporal_lstm_1").get_weights()[0]
    speech = multimodal.speech_network.output.shape[-1]
    assert not kernel[speech:, :8].any() and not kernel[:speech, 8:14].any()


def test_late_fusion_refuses_heads_that_do_not_fit():
    with pytest.raises(FusionError, match=r"must be the audio model's plus the visual model's "):
        set_late_fusion_head(*_models(mm_units=10)[2:], *_models()[:2], [1, 0])
    audio, visual, multimodal = _models(mm_units=10)
    with pytest.raises(FusionError, match=r"lstm_units of the multimodal model is 10.*8 \+ 6 = 14"):
        check_late_fusion(multimodal, audio, visual)
    audio, visual, multimodal = _models(audio_layers=1)
    with pytest.raises(FusionError, match="lstm_layers differs: multimodal 2, audio 1, visual 2"):
        check_late_fusion(multimodal, audio, visual)
    audio, visual, multimodal = _models()
    with pytest.raises(
        FusionError, match="the audio model: expected an audio EmotionModel, got 'visual'"
    ):
        check_late_fusion(multimodal, visual, visual)
    with pytest.raises(FusionError, match="audio_weight must be 2 finite numbers"):
        set_late_fusion_head(multimodal, audio, visual, [1.0, np.nan])
    peephole = build_model(
        "multimodal",
        speech_preset="reference",
        **{**TINY, "lstm_units": 14, "lstm_type": "peephole"},
    )
    with pytest.raises(FusionError, match="lstm_type differs: multimodal 'peephole'"):
        check_late_fusion(peephole, audio, visual)


def test_blend_chosen_per_dimension():
    rng = np.random.default_rng(0)
    labels = rng.normal(size=(2000, 2))
    # Arousal: audio exact, visual noise; valence: two independently noisy estimates,
    # whose mean is better than either.
    audio = np.stack([labels[:, 0], labels[:, 1] + rng.normal(0, 0.7, 2000)], axis=1)
    visual = np.stack([rng.normal(size=2000), labels[:, 1] + rng.normal(0, 0.7, 2000)], axis=1)

    def score(predictions):
        return [_ccc(predictions[:, d], labels[:, d]) for d in range(2)]

    chosen, table = choose_blend(audio, visual, score)
    assert chosen.tolist() == [1.0, 0.5]
    assert table[1.0][0] == pytest.approx(1.0)
    assert table[0.5][1] > max(table[1.0][1], table[0.0][1]) + 0.05
    # A tie goes to the mean of the two.
    chosen, _ = choose_blend(audio, audio, score)
    assert chosen.tolist() == [0.5, 0.5]


def _fusion_config(records, model_dir, audio_path, visual_path, **overrides):
    values = {
        "records": records,
        "model_dir": str(model_dir),
        "modality": "multimodal",
        "model": {"speech_preset": "reference", **TINY, "lstm_units": 14},
        "sequence": {"sequence_length": 25, "hop": 25, "batch_size": 2, "shuffle_buffer": 8},
        "learning_rate": 1e-3,
        "steps": 2,
        "checkpoint_every": 2,
        "eval_every": 2,
        "log_every": 1,
        "init_audio": str(audio_path),
        "init_visual": str(visual_path),
        "init_head": "late_fusion",
        "eval_train": False,
    }
    values.update(overrides)
    return TrainConfig(**values)


def test_trainer_starts_from_the_late_fusion_chosen_on_dev(small_records, tmp_path):
    audio, visual, paths = _saved_unimodal(tmp_path)
    config = _fusion_config(small_records, tmp_path / "fused", *paths)
    trainer = Trainer(config, verbose=False)
    trainer.train()
    history = _read_json_lines(tmp_path / "fused/logs/history.jsonl")
    assert [row["step"] for row in history if "dev_ccc_mean" in row] == [0, 2]

    # The step-0 model is the blend of the unimodal models' dev predictions chosen on dev.
    source = RecordSource(small_records)
    sequence = config.sequence_config
    outputs = {}
    for name, model in (("audio", audio), ("visual", visual)):
        predictions, labels = predict_split(model, source, "dev", name, sequence)
        outputs[name] = np.concatenate([predictions[rid] for rid in sorted(predictions)])
    y = np.concatenate([labels[rid] for rid in sorted(labels)])

    def score(predictions):
        return [_ccc(predictions[:, d].astype(np.float64), y[:, d]) for d in range(2)]

    chosen, table = choose_blend(outputs["audio"], outputs["visual"], score)
    for index, dimension in enumerate(("arousal", "valence")):
        assert history[0][f"dev_ccc_{dimension}"] == pytest.approx(
            table[chosen[index]][index], abs=1e-4
        )
    with open(tmp_path / "fused/best/scores.json") as stream:
        best = json.load(stream)
    assert best["ccc_mean"] >= history[0]["dev_ccc_mean"] - 1e-12
    # The blend chosen is kept beside the model, so a refit can rebuild the same start.
    with open(tmp_path / "fused/late_fusion.json") as stream:
        kept = json.load(stream)
    assert kept["audio_weight"] == chosen.tolist() and kept["eval_split"] == "dev"
    assert kept["scores"] == {str(w): pytest.approx(table[w], abs=1e-4) for w in table}
    # A restart finds the run complete and does not evaluate step 0 again.
    Trainer(config, verbose=False).train()
    again = _read_json_lines(tmp_path / "fused/logs/history.jsonl")
    assert len(again) == len(history)


def test_late_fusion_configuration_errors(small_records, tmp_path):
    _, _, paths = _saved_unimodal(tmp_path)
    with pytest.raises(TrainingError, match="--init_head=late_fusion is for the multimodal model"):
        Trainer(
            _fusion_config(
                small_records, tmp_path / "a", *paths, modality="audio", init_visual=None
            )
        )
    with pytest.raises(TrainingError, match="needs --init_audio and --init_visual"):
        Trainer(_fusion_config(small_records, tmp_path / "b", *paths, init_visual=None))
    with pytest.raises(TrainingError, match=r"needs evaluations \(--eval_every > 0\)"):
        Trainer(_fusion_config(small_records, tmp_path / "c", *paths, eval_every=0))
    with pytest.raises(TrainingError, match="--init_head='mean': expected one of"):
        Trainer(_fusion_config(small_records, tmp_path / "d", *paths, init_head="mean"))
    wide = {"speech_preset": "reference", **TINY, "lstm_units": 16}
    trainer = Trainer(
        _fusion_config(small_records, tmp_path / "e", *paths, model=wide), verbose=False
    )
    with pytest.raises(
        TrainingError, match=r"audio.keras, .*visual.keras\): lstm_units .* 16.*8 \+ 6 = 14"
    ):
        trainer.train()
    # Nothing was trained there: the corrected command reuses the directory.
    right = {"speech_preset": "reference", **TINY, "lstm_units": 14}
    Trainer(
        _fusion_config(small_records, tmp_path / "e", *paths, model=right), verbose=False
    ).train()
    with open(tmp_path / "e" / "config.json") as stream:
        assert json.load(stream)["model"]["lstm_units"] == 14
    with pytest.raises(TrainingError, match="--init_visual=.*missing.keras: cannot load"):
        Trainer(
            _fusion_config(small_records, tmp_path / "f", paths[0], tmp_path / "missing.keras"),
            verbose=False,
        ).train()
    keras.backend.clear_session()


def _saved_visual(tmp_path):
    """A tiny visual model saved as ``visual.keras``: ``(model, path)``."""
    _, visual, _ = _models()
    path = tmp_path / "visual.keras"
    visual.save(path)
    return visual, path


def _visual_config(records, model_dir, init_visual, **overrides):
    """A visual model starting from ``init_visual`` (a tiny one, 6 LSTM units)."""
    values = {"model": {**TINY, "lstm_units": 6}, "init_audio": None, "init_head": "random"}
    values.update(overrides)
    return _fusion_config(records, model_dir, None, init_visual, modality="visual", **values)


def test_frozen_batch_norm_keeps_the_initial_statistics(small_records, tmp_path):
    visual, path = _saved_visual(tmp_path)
    config = _visual_config(
        small_records, tmp_path / "frozen_bn", path, freeze_batch_norm=True, learning_rate=1e-2
    )
    trainer = Trainer(config, verbose=False)
    trainer.train()

    def by_kind(model):
        norms, convs = [], []
        for layer in model.visual_network.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                norms.extend(layer.get_weights())  # gamma, beta, moving mean and variance
            elif isinstance(layer, keras.layers.Conv2D):
                convs.extend(layer.get_weights())
        return norms, convs

    (norms, convs), (norms_before, convs_before) = by_kind(trainer.model), by_kind(visual)
    assert len(norms) == len(norms_before) > 0
    for kept, original in zip(norms, norms_before, strict=True):
        np.testing.assert_array_equal(kept, original)
    assert max(np.abs(a - b).max() for a, b in zip(convs, convs_before, strict=True)) > 1e-4
    with pytest.raises(TrainingError, match="--freeze_batch_norm .* the visual model needs"):
        Trainer(
            _fusion_config(
                small_records,
                tmp_path / "no_init",
                None,
                None,
                modality="visual",
                init_audio=None,
                init_visual=None,
                init_head="random",
                freeze_batch_norm=True,
            )
        )


def test_a_restart_with_other_frozen_parts_is_refused(small_records, tmp_path):
    _, path = _saved_visual(tmp_path)

    def config(**overrides):
        return _visual_config(
            small_records, tmp_path / "run", path, steps=1, eval_every=0, **overrides
        )

    Trainer(config(freeze_batch_norm=True), verbose=False).train()
    with pytest.raises(TrainingError, match="freeze_batch_norm: True there, False now"):
        Trainer(config(freeze_batch_norm=False))
    # A config.json written before the key existed reads as its default (False).
    saved = tmp_path / "run" / "config.json"
    with open(saved) as stream:
        old = json.load(stream)
    del old["freeze_batch_norm"]
    saved.write_text(json.dumps(old))
    Trainer(config(freeze_batch_norm=False), verbose=False)
    with pytest.raises(TrainingError, match="freeze_batch_norm: False there, True now"):
        Trainer(config(freeze_batch_norm=True))


def _scores(arousal, valence):
    return {
        "ccc_arousal": arousal,
        "ccc_valence": valence,
        "ccc_mean": (arousal + valence) / 2,
    }


# Dev scores of the evaluations at steps 0 (the late-fusion start), 1, 2 and 3.
_DEV_SCORES = [(0.80, 0.80), (0.95, 0.70), (0.82, 0.81), (0.99, 0.79)]


@pytest.mark.parametrize("above_start", [True, False])
def test_select_above_start_keeps_every_dimension_at_least_at_the_start(
    small_records, tmp_path, above_start, capsys
):
    _, _, paths = _saved_unimodal(tmp_path)
    config = _fusion_config(
        small_records,
        tmp_path / "fused",
        *paths,
        steps=3,
        eval_every=1,
        checkpoint_every=3,
        select_above_start=above_start,
    )
    trainer = Trainer(config)
    # The selection is what is tested: the evaluations return scripted dev scores.
    scripted = iter(_DEV_SCORES)
    trainer.evaluate = lambda split=None: _scores(*next(scripted))
    trainer.train()
    with open(tmp_path / "fused/best/scores.json") as stream:
        best = json.load(stream)
    if above_start:
        # Step 1 (mean 0.825) and step 3 (mean 0.89) lose valence against the start.
        assert best["step"] == 2
        assert best["start"] == {"ccc_arousal": 0.80, "ccc_valence": 0.80}
        assert int(trainer.stale.numpy()) == 1
        out = capsys.readouterr().out
        assert out.count("not chosen (--select_above_start): valence below the start's 0.800") == 2
    else:
        assert best["step"] == 3
        assert "start" not in best
    # A restart with the other selection is refused: the choice so far was made by this one.
    with pytest.raises(TrainingError, match=f"select_above_start: {above_start} there"):
        Trainer(dataclasses.replace(config, select_above_start=not above_start))


def test_select_above_start_needs_the_late_fusion_start(small_records, tmp_path):
    # Refused before any model is read: the paths need not exist.
    paths = tmp_path / "audio.keras", tmp_path / "visual.keras"
    with pytest.raises(
        TrainingError, match="--select_above_start .* needs --init_head=late_fusion"
    ):
        Trainer(
            _fusion_config(
                small_records, tmp_path / "a", *paths, init_head="random", select_above_start=True
            )
        )


def test_video_dropout_chooses_on_the_scores_with_and_without_the_video(
    small_records, tmp_path, capsys
):
    _, _, paths = _saved_unimodal(tmp_path)
    config = _fusion_config(
        small_records,
        tmp_path / "fused",
        *paths,
        sequence={
            "sequence_length": 25,
            "hop": 25,
            "batch_size": 2,
            "shuffle_buffer": 8,
            "video_dropout": 0.5,
        },
        steps=3,
        eval_every=1,
        checkpoint_every=3,
        select_above_start=True,
    )
    trainer = Trainer(config)
    assert trainer.selects_without_video
    # Steps 0-3, with the video / without: step 1 is best with the video, step 3 falls
    # below the start's valence, step 2 is best on the mean of the two.
    with_video = iter([(0.80, 0.80), (0.90, 0.85), (0.85, 0.82), (0.99, 0.70)])
    without_video = iter([(0.30, 0.00), (0.40, 0.05), (0.75, 0.10), (0.90, 0.20)])
    calls = []

    def evaluate(split=None, remove_streams=()):
        calls.append((split, tuple(remove_streams)))
        return _scores(*next(without_video if remove_streams else with_video))

    trainer.evaluate = evaluate
    trainer.train()
    assert calls == [(None, ()), (None, ("video",))] * 4
    with open(tmp_path / "fused/best/scores.json") as stream:
        best = json.load(stream)
    assert best["step"] == 2
    assert best["selection"] == pytest.approx((0.835 + 0.425) / 2)
    assert best["without_video"]["ccc_arousal"] == pytest.approx(0.75)
    rows = read_history(tmp_path / "fused/logs/history.jsonl")
    assert [row["dev_without_video_ccc_arousal"] for row in rows] == [0.30, 0.40, 0.75, 0.90]
    out = capsys.readouterr().out
    assert "dev without video 0.750 / 0.100" in out
    assert "final model = the best on dev (step 2, mean CCC 0.835, 0.425 without video)" in out


def test_evaluation_with_the_video_removed_reads_black_crops(small_records, tmp_path):
    audio, visual, paths = _saved_unimodal(tmp_path)
    trainer = Trainer(_fusion_config(small_records, tmp_path / "fused", *paths))
    assert not trainer.selects_without_video  # no video_dropout: one evaluation a step
    # Arousal from the audio head alone does not depend on the video; valence from the
    # visual head does.
    set_late_fusion_head(trainer.model, audio, visual, [1.0, 0.0])
    with_video = trainer.evaluate()
    without_video = trainer.evaluate(remove_streams=("video",))
    assert with_video["ccc_arousal"] == pytest.approx(without_video["ccc_arousal"], abs=1e-5)
    assert abs(with_video["ccc_valence"] - without_video["ccc_valence"]) > 1e-3


def _faces_lost(inputs, frames):
    """``inputs`` with the crops of ``frames`` (time indices) black: no face there."""
    video = np.array(inputs["video"])
    video[:, frames] = 0.0
    return {**inputs, "video": video}


@pytest.mark.parametrize("lstm_type", ["standard", "peephole"])
def test_a_frame_without_a_face_reads_the_voice_alone(lstm_type, tmp_path):
    audio, visual, multimodal = _models(lstm_type, voice_units=8)
    inputs = _faces_lost(make_inputs("multimodal", batch=2, time=7, seed=3), [2, 3, 6])
    set_late_fusion_head(multimodal, audio, visual, [0.5, 0.0])
    from_audio = audio({"audio": inputs["audio"]}).numpy()
    from_visual = visual({"video": inputs["video"]}).numpy()
    fused = multimodal(inputs).numpy()
    face = np.ones(7, bool)
    face[[2, 3, 6]] = False
    # Frames with a face: the blend; frames without: exactly the audio model.
    blend = np.array([0.5, 0.0]) * from_audio + np.array([0.5, 1.0]) * from_visual
    np.testing.assert_allclose(fused[:, face], blend[:, face], atol=2e-5)
    np.testing.assert_allclose(fused[:, ~face], from_audio[:, ~face], atol=2e-5)
    # The whole video lost: the multimodal model is the audio model.
    removed = multimodal({**inputs, "video": np.zeros_like(inputs["video"])}).numpy()
    np.testing.assert_allclose(removed, from_audio, atol=2e-5)
    # Saved and loaded, and split into features and head, it computes the same.
    multimodal.save(tmp_path / "fused.keras")
    loaded = keras.saving.load_model(tmp_path / "fused.keras")
    np.testing.assert_allclose(loaded(inputs).numpy(), fused, atol=1e-6)
    features = loaded.frame_features(inputs)
    assert features.shape[-1] == loaded.num_features == multimodal.num_features
    np.testing.assert_array_equal(features[..., -1].numpy(), np.tile(face, (2, 1)))
    np.testing.assert_allclose(loaded.recurrent_outputs(features).numpy(), fused, atol=1e-6)


def test_the_streaming_step_and_whole_recording_paths_read_the_face_flag():
    from e2e_emotion.export.tflite.twins import sequence_function, stream_function
    from e2e_emotion.models.inference import predict_recording

    audio, visual, multimodal = _models(voice_units=8)
    set_late_fusion_head(multimodal, audio, visual, [1.0, 0.5])
    inputs = _faces_lost(make_inputs("multimodal", batch=1, time=6, seed=4), [1, 4])
    expected = multimodal(inputs).numpy()[0]
    step = stream_function(multimodal)
    state = {f"{p}_{k}": np.zeros((1, 14), np.float32) for p in "hc" for k in (1, 2)}
    streamed = []
    for t in range(6):
        out = step({"audio": inputs["audio"][:, t], "video": inputs["video"][:, t], **state})
        streamed.append(out["predictions"].numpy()[0])
        state = {name: out[f"new_{name}"].numpy() for name in state}
    np.testing.assert_allclose(np.array(streamed), expected, atol=5e-5)
    sequence = sequence_function(multimodal, 6)(inputs)["predictions"].numpy()[0]
    np.testing.assert_allclose(sequence, expected, atol=5e-5)
    frames = {name: value[0] for name, value in inputs.items()}
    whole = predict_recording(multimodal, frames, chunk=4)
    np.testing.assert_allclose(whole, expected, atol=5e-5)


def test_voice_units_are_checked():
    with pytest.raises(ValueError, match=r"`voice_units` \(4\) is for the multimodal model"):
        build_model("audio", speech_preset="reference", **TINY, voice_units=4)
    audio, visual, multimodal = _models(voice_units=6)
    with pytest.raises(FusionError, match="voice_units of the multimodal model is 6: it must"):
        check_late_fusion(multimodal, audio, visual)


def _kept_start(directory, multimodal, audio_weight, step=0):
    """A multimodal run directory that kept (step 0) its late-fusion start."""
    (directory / "best").mkdir(parents=True)
    multimodal.save(directory / "best" / "model.keras")
    (directory / "best" / "scores.json").write_text(json.dumps({"step": step}))
    (directory / "late_fusion.json").write_text(json.dumps({"audio_weight": audio_weight}))


def test_a_refit_rebuilds_the_kept_start_from_other_unimodal_models(tmp_path):
    audio, visual, multimodal = _models(voice_units=8)
    set_late_fusion_head(multimodal, audio, visual, [0.5, 0.0])
    _kept_start(tmp_path / "fused", multimodal, [0.5, 0.0])
    # The audio model refitted on more recordings: other weights, same sizes.
    refitted = lively(
        build_model("audio", speech_preset="reference", **{**TINY, "lstm_units": 8}), seed=7
    )
    refitted.save(tmp_path / "refit.keras")
    visual.save(tmp_path / "visual.keras")
    path = late_fusion_refit(
        tmp_path / "fused", tmp_path / "refit.keras", tmp_path / "visual.keras", tmp_path / "out"
    )
    assert path == str(tmp_path / "out" / "final" / "model.keras")
    rebuilt = keras.saving.load_model(path)
    inputs = _faces_lost(make_inputs("multimodal", batch=2, time=7, seed=3), [2, 5])
    from_refit = refitted({"audio": inputs["audio"]}).numpy()
    from_audio = audio({"audio": inputs["audio"]}).numpy()
    from_visual = visual({"video": inputs["video"]}).numpy()
    assert np.abs(from_refit - from_audio).max() > 0.05  # the two audio models differ
    face = np.ones(7, bool)
    face[[2, 5]] = False
    fused = rebuilt(inputs).numpy()
    # The blend chosen for the start, now of the refitted audio model, and the refitted
    # audio model alone where the face is lost.
    blend = np.array([0.5, 0.0]) * from_refit + np.array([0.5, 1.0]) * from_visual
    np.testing.assert_allclose(fused[:, face], blend[:, face], atol=2e-5)
    np.testing.assert_allclose(fused[:, ~face], from_refit[:, ~face], atol=2e-5)
    with open(tmp_path / "out" / "refit.json") as stream:
        described = json.load(stream)
    assert described["audio_weight"] == [0.5, 0.0]
    assert described["audio_model"] == str(tmp_path / "refit.keras")


def test_a_refit_refuses_what_it_cannot_rebuild(tmp_path):
    audio, visual, multimodal = _models(voice_units=8)
    audio.save(tmp_path / "audio.keras")
    visual.save(tmp_path / "visual.keras")
    models = (tmp_path / "audio.keras", tmp_path / "visual.keras")
    _kept_start(tmp_path / "trained", multimodal, [1.0, 0.0], step=40)
    with pytest.raises(RefitError, match="kept a recurrent head trained to step 40, not its"):
        late_fusion_refit(tmp_path / "trained", *models, tmp_path / "out")
    _kept_start(tmp_path / "no_blend", multimodal, [1.0, 0.0])
    (tmp_path / "no_blend" / "late_fusion.json").unlink()
    with pytest.raises(RefitError, match="late_fusion.json not found: the multimodal run did not"):
        late_fusion_refit(tmp_path / "no_blend", *models, tmp_path / "out")
    with pytest.raises(RefitError, match="scores.json not found: the multimodal run has kept no"):
        late_fusion_refit(tmp_path / "empty", *models, tmp_path / "out")
    _kept_start(tmp_path / "fused", multimodal, [1.0, 0.0])
    wider = build_model("audio", speech_preset="reference", **{**TINY, "lstm_units": 9})
    wider.save(tmp_path / "wider.keras")
    with pytest.raises(RefitError, match="lstm_units of the multimodal model is 14"):
        late_fusion_refit(tmp_path / "fused", tmp_path / "wider.keras", models[1], tmp_path / "o")
    with pytest.raises(RefitError, match="missing.keras: cannot load the audio model"):
        late_fusion_refit(tmp_path / "fused", tmp_path / "missing.keras", models[1], tmp_path / "o")
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()
