"""Imitation of solved designs before PPO (``autorl meta-train --imitate``, meta.imitation).

A teacher's solutions become the actions that write them and the observations the
environment shows along the way; cloning raises their likelihood under the policy (never
touching the value head or PPO's optimizer); meta-training imitates first, records it, and
a stopped imitation resumes where it stopped.
"""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from autorl.cli import main
from envs.dot_bracket import Target
from envs.folding import mfe_structure
from envs.rna_design import (
    RnaDesignConfig,
    RnaDesignEnv,
    TargetEncoding,
    actions_to_sequence,
    sequence_to_actions,
)
from meta.checkpoints import load_checkpoint
from meta.config import META_LEARNA
from meta.imitation import (
    GU_OFF,
    Demonstration,
    clone,
    demonstrate,
    evaluate,
    read_designs,
    split,
)
from meta.rna_agent import RNA_AGENT
from meta.training import MetaTrainer, MetaTrainSettings

TARGETS = [
    Target("a", "((((((....))))))....((((....))))..."),
    Target("b", "..(((((.....)))))..."),
    Target("c", ".((((....))))((((....))))."),
]
#: A solution of each target (checked below: each folds into its target).
SOLUTIONS = [
    "CGCCGGGAAACCGGCGAAAAGGGGGAAACCCCAAA",
    "AACGCCGGAAAACGGCGAAA",
    "ACGCCGAAAGGCGGGGGGAAACCCCA",
]
SMALL = META_LEARNA.updated(
    {
        "state_radius": 4,
        "conv_channels_1": 4,
        "conv_kernel_1": 3,
        "conv_channels_2": 4,
        "conv_kernel_2": 3,
        "fc_units": 8,
        "lstm_layers": 0,
        "n_envs": 2,
        "batch_size": 16,
        "local_improvement": 0,
    }
)
LETTERS = SMALL.updated({"observe_letters": True})


def _designs_json(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps(records))
    return path


def _records(solutions=SOLUTIONS) -> list[dict]:
    return [
        {"target_id": t.id, "target": t.structure, "solutions": [s] if s else []}
        for t, s in zip(TARGETS, solutions)
    ]


def _model(config=LETTERS, seed=0):
    env = RNA_AGENT.make_env(2, seed, targets=TARGETS, config=config)
    model = RNA_AGENT.build_model(config, env, seed, "cpu", n_steps=16)
    env.close()
    return model


def test_the_solutions_fold_into_their_targets():
    for target, sequence in zip(TARGETS, SOLUTIONS):
        assert mfe_structure(sequence) == target.structure


@pytest.mark.parametrize("gu_pairs", [False, True])
def test_sequence_to_actions_inverts_actions_to_sequence(gu_pairs):
    config = RnaDesignConfig(state_radius=4, gu_pairs=gu_pairs)
    rng = np.random.default_rng(0)
    for target in TARGETS:
        encoding = TargetEncoding.build(target, config)
        paired = encoding.partners >= 0
        actions = np.where(
            paired,
            rng.integers(0, config.num_actions, encoding.num_steps),
            rng.integers(0, 4, encoding.num_steps),
        )
        sequence = actions_to_sequence(encoding, actions)
        assert np.array_equal(sequence_to_actions(encoding, sequence, config.num_actions), actions)
        dna = sequence.lower().replace("u", "t")
        assert np.array_equal(sequence_to_actions(encoding, dna, config.num_actions), actions)


@pytest.mark.parametrize(
    ("sequence", "num_actions", "match"),
    [
        ("GCGC", 4, "a sequence of 4 nt for target b of 20 nt"),
        ("AAGGCGCAAXAAGCGCCAAA", 4, "position 10 .* 'X'"),
        # positions 3 and 17 pair in the target: A with A cannot pair
        ("AAAGCGCAAAAAGCGCAAAA", 4, "positions 3 and 17 .* AA"),
        # G with U pairs, but not in an action space without GU pairs
        ("AAGGCGCAAAAAGCGCUAAA", 4, "positions 3 and 17 .* GU"),
    ],
)
def test_sequence_to_actions_names_what_it_cannot_write(sequence, num_actions, match):
    encoding = TargetEncoding.build(TARGETS[1], RnaDesignConfig(state_radius=4))
    with pytest.raises(ValueError, match=match):
        sequence_to_actions(encoding, sequence, num_actions)


def test_a_gu_pair_is_written_by_action_4_with_gu_pairs():
    encoding = TargetEncoding.build(TARGETS[1], RnaDesignConfig(state_radius=4, gu_pairs=True))
    actions = sequence_to_actions(encoding, "AAGGCGCAAAAAGCGCUAAA", 6)
    assert actions[2] == 4  # G at position 3, U at its partner 17


@pytest.mark.parametrize(
    "config", [SMALL.env, LETTERS.env, LETTERS.updated({"gu_pairs": True}).env]
)
def test_demonstrations_show_what_the_environment_shows_along_the_design(config):
    pairs = enumerate(zip(TARGETS, SOLUTIONS))
    data = demonstrate([Demonstration(t, s, i + 1) for i, (t, s) in pairs], config)
    row = 0
    for target, sequence in zip(TARGETS, SOLUTIONS):
        env = RnaDesignEnv([target], config)
        observation, _ = env.reset(seed=0)
        done = False
        while not done:
            assert np.array_equal(data.observations[row], observation)
            if data.masks is not None:
                assert np.array_equal(data.masks[row], env.action_masks())
            observation, _, done, _, info = env.step(int(data.actions[row]))
            row += 1
        assert info["sequence"] == sequence and info["solved"]
    assert row == len(data) and data.used == 3 and not data.skipped
    assert (data.masks is not None) == config.gu_pairs
    assert list(np.unique(data.designs)) == [0, 1, 2]


def test_a_gu_design_is_skipped_without_gu_pairs_and_used_with_them():
    gu = Demonstration(TARGETS[1], "AAGGCGCAAAAAGCGCUAAA", 1)
    plain = Demonstration(TARGETS[1], SOLUTIONS[1], 2)
    data = demonstrate([gu, plain], LETTERS.env)
    assert data.used == 1 and data.skipped == {GU_OFF: 1} and len(data) == 15
    assert demonstrate([gu, plain], LETTERS.updated({"gu_pairs": True}).env).used == 2
    with pytest.raises(ValueError, match="result 7: positions 3 and 17 .* AA"):
        demonstrate([Demonstration(TARGETS[1], "AAAGCGCAAAAAGCGCAAAA", 7)], LETTERS.env)


def test_read_designs_takes_every_solution_of_the_training_targets(tmp_path):
    records = _records([SOLUTIONS[0], "", SOLUTIONS[2]])
    records[0]["solutions"].append("GCGCGCAAAAGCGCGCAAAAGGGGAAACCCCAAAA")
    demonstrations, unsolved = read_designs(_designs_json(tmp_path / "d.json", records), TARGETS)
    assert unsolved == 1
    assert [(d.target.id, d.record) for d in demonstrations] == [("a", 1), ("a", 1), ("c", 3)]
    assert demonstrations[1].sequence.startswith("GCGCGC")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "no such file"),
        ('[{"target": "((....))", "solutions": []}]\n{', "d.json:2: not JSON"),
        ('"((....))"', "expected design results"),
        ('[{"solutions": []}]', "result 1: expected an object with a 'target'"),
        ('[{"target": "((((((....))))))....((((....)))).."}]', "result 1: expected 'solutions'"),
        ('[{"target": "((....))", "target_id": "x", "solutions": []}]', "target x.* not one of"),
    ],
)
def test_read_designs_names_a_bad_file_and_result(tmp_path, content, match):
    path = tmp_path / "d.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_designs(path, TARGETS)


def test_the_held_out_designs_keep_their_rows_together():
    demonstrations = [Demonstration(t, s, 1) for t, s in zip(TARGETS, SOLUTIONS)] * 4
    data = demonstrate(demonstrations, SMALL.env)
    train, held = split(data, 0.25, seed=5)
    assert len(set(data.designs[held])) == 3
    assert not set(data.designs[held]) & set(data.designs[train])
    assert len(train) + len(held) == len(data)
    assert np.array_equal(split(data, 0.25, seed=5)[1], held)
    assert len(split(data, 0.0, seed=5)[1]) == 0


def test_cloning_learns_the_demonstrated_actions_and_leaves_the_value_head_alone():
    model = _model()
    demonstrations = [Demonstration(t, s, 1) for t, s in zip(TARGETS, SOLUTIONS)]
    data = demonstrate(demonstrations, LETTERS.env)
    rows = np.arange(len(data))
    before_loss, before_accuracy = evaluate(model.policy, data, rows)
    most_probable, _ = model.policy.predict(data.observations, deterministic=True)
    assert before_accuracy == np.mean(most_probable == data.actions) < 0.9
    value = [p.detach().clone() for p in model.policy.value_net.parameters()]
    ppo_state = {k: v for k, v in model.policy.optimizer.state_dict().items() if k != "state"}
    history = clone(model, data, epochs=60, learning_rate=0.02, seed=0, holdout=0)
    assert [h.epoch for h in history] == list(range(1, 61))
    loss, accuracy = evaluate(model.policy, data, rows)
    assert loss < 0.5 * before_loss and accuracy >= 0.9
    assert history[-1].accuracy == accuracy and np.isnan(history[-1].holdout_loss)
    assert all(torch.equal(a, b) for a, b in zip(value, model.policy.value_net.parameters()))
    assert not model.policy.optimizer.state_dict()["state"]  # PPO's Adam never stepped
    assert {k: v for k, v in model.policy.optimizer.state_dict().items() if k != "state"} == (
        ppo_state
    )


def test_cloning_never_trains_on_the_held_out_designs(monkeypatch):
    import meta.imitation as imitation

    demonstrations = [Demonstration(t, s, 1) for t, s in zip(TARGETS, SOLUTIONS)] * 3
    data = demonstrate(demonstrations, SMALL.env)
    trained: list[np.ndarray] = []
    original = imitation._log_likelihood

    def recording(policy, data, rows):
        if torch.is_grad_enabled():
            trained.append(rows)
        return original(policy, data, rows)

    monkeypatch.setattr(imitation, "_log_likelihood", recording)
    history = clone(_model(SMALL), data, epochs=2, learning_rate=0.01, seed=3, holdout=0.3)
    train, held = split(data, 0.3, seed=3)
    seen = np.concatenate(trained)
    assert len(seen) == 2 * len(train) and set(seen) == set(train)
    assert not set(seen) & set(held) and not np.isnan(history[-1].holdout_accuracy)


def test_the_first_epoch_starts_from_the_demonstrated_frequencies():
    data = demonstrate([Demonstration(t, s, 1) for t, s in zip(TARGETS, SOLUTIONS)], SMALL.env)
    counts = np.bincount(data.actions, minlength=4) + 1.0
    expected = np.log(counts / counts.sum())
    first, resumed = _model(SMALL), _model(SMALL)
    initial = resumed.policy.action_net.bias.detach().clone()
    clone(first, data, epochs=1, learning_rate=1e-12, seed=0, holdout=0)
    clone(resumed, data, epochs=1, learning_rate=1e-12, seed=0, holdout=0, first_epoch=2)
    bias = first.policy.action_net.bias.detach().numpy()
    assert np.allclose(bias, expected, atol=1e-6)
    assert torch.allclose(resumed.policy.action_net.bias, initial, atol=1e-6)
    assert not np.allclose(initial.numpy(), expected, atol=0.1)


def _weights(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.policy.parameters()]


def test_cloning_is_seeded_and_an_epoch_draws_its_own_order():
    data = demonstrate([Demonstration(t, s, 1) for t, s in zip(TARGETS, SOLUTIONS)], SMALL.env)
    runs = {}
    runs_of = (("a", 4, 1), ("again", 4, 1), ("seed", 5, 1), ("second", 4, 2), ("third", 4, 3))
    for name, seed, first in runs_of:
        model = _model(SMALL)
        clone(model, data, epochs=1, learning_rate=0.01, seed=seed, first_epoch=first)
        runs[name] = _weights(model)
    same = [torch.equal(a, b) for a, b in zip(runs["a"], runs["again"])]
    assert all(same)
    # Another seed, or another epoch of a resumed imitation: another minibatch order (the
    # second and third epochs both start without the prior bias of the first).
    assert not all(torch.equal(a, b) for a, b in zip(runs["a"], runs["seed"]))
    assert not all(torch.equal(a, b) for a, b in zip(runs["second"], runs["third"]))
    stopped = clone(
        _model(SMALL), data, epochs=5, learning_rate=0.01, seed=4, should_stop=lambda: True
    )
    assert [h.epoch for h in stopped] == [1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "epochs must be"),
        ({"first_epoch": 0}, "first_epoch must be"),
        ({"learning_rate": float("nan")}, "learning_rate must be"),
        ({"holdout": 1.0}, "holdout must be"),
    ],
)
def test_clone_refuses_bad_settings(kwargs, match):
    data = demonstrate([Demonstration(TARGETS[0], SOLUTIONS[0], 1)], SMALL.env)
    settings = {"epochs": 1, "learning_rate": 0.01, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        clone(_model(SMALL), data, **settings)
    empty = demonstrate([], SMALL.env)
    with pytest.raises(ValueError, match="no demonstrated decision"):
        clone(_model(SMALL), empty, epochs=1, learning_rate=0.01, seed=0)


def _train_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.txt"
    path.write_text("".join(f"{t.id}\t{t.structure}\n" for t in TARGETS))
    return path


def _settings(tmp_path: Path, designs: Path, **changes) -> MetaTrainSettings:
    train = _train_file(tmp_path)
    settings = {
        "train_data": train,
        "out": tmp_path / "run",
        "config": LETTERS,
        "timesteps": 32,
        "n_steps": 16,
        "device": "cpu",
        "validation_data": train,
        "validation_time": 0.3,
        "imitation": designs,
        "imitation_epochs": 4,
        "imitation_learning_rate": 0.02,
        **changes,
    }
    return MetaTrainSettings(**settings)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_meta_training_imitates_first_and_records_it(tmp_path):
    designs = _designs_json(tmp_path / "designs.json", _records())
    trainer = MetaTrainer(_settings(tmp_path, designs))
    trainer.run()
    out = tmp_path / "run"
    epochs = _rows(out / "imitation.csv")
    assert [int(r["epoch"]) for r in epochs] == [1, 2, 3, 4]
    assert float(epochs[-1]["loss"]) < float(epochs[0]["loss"])
    imitated = load_checkpoint(out / "imitated.zip")
    assert imitated.timesteps == 0 and imitated.meta["imitation_epochs"] == 4
    record = json.loads((out / "run.json").read_text())["imitation"]
    assert record["designs"] == 3 and record["epochs"] == 4 and record["skipped"] == {}
    assert record["sha256"] == imitated.meta["imitation"]["sha256"]
    validations = _rows(out / "validation.csv")
    assert [int(r["timesteps"]) for r in validations] == [0, 32]  # the clone, then PPO's
    latest = load_checkpoint(out / "latest.zip")
    assert latest.timesteps == 32 and latest.meta["imitation_epochs"] == 4


def test_a_stopped_imitation_resumes_with_the_epochs_left(tmp_path):
    designs = _designs_json(tmp_path / "designs.json", _records())
    settings = _settings(tmp_path, designs, validation_data=None)

    def stop_after_two(epoch):
        if epoch.epoch == 2:
            trainer.stop.raised = signal.SIGINT

    trainer = MetaTrainer(settings, on_imitation=stop_after_two)
    trainer.run()
    out = tmp_path / "run"
    assert trainer.interrupted and not (out / "imitated.zip").exists()
    assert load_checkpoint(out / "latest.zip").meta["imitation_epochs"] == 2
    resumed = MetaTrainer(_settings(tmp_path, designs, validation_data=None, resume=True))
    resumed.run()
    assert [int(r["epoch"]) for r in _rows(out / "imitation.csv")] == [1, 2, 3, 4]
    assert load_checkpoint(out / "latest.zip").meta["imitation_epochs"] == 4
    assert (out / "imitated.zip").exists()
    other = _designs_json(tmp_path / "other.json", _records()[:2])
    with pytest.raises(ValueError, match="not the file of designs this run imitated"):
        MetaTrainer(_settings(tmp_path, other, resume=True))
    # Resumed once imitation is done, the demonstrations are not built again.
    again = MetaTrainer(_settings(tmp_path, designs, resume=True, timesteps=64))
    assert again.demonstrations is None and again.imitation["designs"] == 3


def test_a_run_that_did_not_imitate_is_not_resumed_with_imitate(tmp_path):
    designs = _designs_json(tmp_path / "designs.json", _records())
    MetaTrainer(_settings(tmp_path, None, validation_data=None)).run()
    with pytest.raises(ValueError, match="did not start with imitation"):
        MetaTrainer(_settings(tmp_path, designs, validation_data=None, resume=True))


def test_meta_train_cli_refuses_bad_designs_before_writing_anything(tmp_path, capsys):
    train = _train_file(tmp_path)
    config = tmp_path / "letters.json"
    config.write_text(json.dumps(LETTERS.to_flat()))
    base = ["meta-train", "--train-data", str(train), "--timesteps", "32", "--quiet"]
    base += ["--config", str(config), "--device", "cpu"]
    bad = _designs_json(tmp_path / "bad.json", [{"target": "((....))", "solutions": []}])
    out = tmp_path / "run"
    assert main([*base, "--out", str(out), "--imitate", str(bad)]) == 2
    assert "bad.json: result 1 (target ?)" in capsys.readouterr().err and not out.exists()
    gu_only = _designs_json(tmp_path / "gu.json", _records(["", "AAGGCGCAAAAAGCGCUAAA", ""]))
    assert main([*base, "--out", str(out), "--imitate", str(gu_only)]) == 2
    assert f"no design to imitate (1 solutions, skipped: {{'{GU_OFF}': 1}}" in (
        capsys.readouterr().err
    )
    assert not out.exists()
    good = _designs_json(tmp_path / "good.json", _records())
    assert main([*base, "--out", str(out), "--imitate", str(good), "--imitation-epochs", "0"]) == 2
    assert "--imitation-epochs must be >= 1" in capsys.readouterr().err and not out.exists()
    recurrent = tmp_path / "recurrent.json"
    episode = SMALL.updated({"lstm_mode": "episode", "lstm_layers": 1})
    recurrent.write_text(json.dumps(episode.to_flat()))
    command = [*base, "--out", str(out), "--imitate", str(good), "--config", str(recurrent)]
    assert main(command) == 2
    assert "imitation needs a window policy" in capsys.readouterr().err and not out.exists()
    cartpole = ["meta-train", "--task", "cartpole-variants", "--timesteps", "8"]
    assert main([*cartpole, "--out", str(out), "--imitate", str(good)]) == 2
    assert "--imitate: RNA meta-training options" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_meta_train_cli_imitates_autorl_designs_output(tmp_path, capsys, fmt):
    train = _train_file(tmp_path)
    assert main(["design", "--target", str(train), "--method", "stages", "--time-limit", "5",
                 "--format", fmt, "--quiet"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    if fmt == "jsonl":  # one target's object a line
        lines = printed.splitlines()
        assert [json.loads(line)["target_id"] for line in lines] == ["a", "b", "c"]
    designs = tmp_path / f"designs.{fmt}"
    designs.write_text(printed)
    config = tmp_path / "letters.json"
    config.write_text(json.dumps(LETTERS.to_flat()))
    out = tmp_path / "run"
    command = ["meta-train", "--train-data", str(train), "--timesteps", "32", "--n-steps", "16"]
    command += ["--config", str(config), "--device", "cpu", "--quiet", "--out", str(out)]
    assert main([*command, "--imitate", str(designs), "--imitation-epochs", "2"]) == 0
    record = json.loads((out / "run.json").read_text())["imitation"]
    assert record["designs"] + sum(record["skipped"].values()) == 3
    assert len(_rows(out / "imitation.csv")) == 2
