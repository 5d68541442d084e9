import json

import pytest

from meta.config import LEARNA, META_LEARNA, LearnaConfig


def test_published_defaults():
    flat = LEARNA.to_flat()
    assert flat["batch_size"] == 126 and flat["conv_kernel_1"] == 17 and flat["state_radius"] == 32
    assert flat["lstm_layers"] == 1 and flat["lstm_units"] == 28 and flat["fc_units"] == 57
    assert flat["learning_rate"] == pytest.approx(5.99e-4)
    assert flat["entropy_coef"] == pytest.approx(6.76e-5)
    assert flat["reward_exponent"] == pytest.approx(9.34)
    meta = META_LEARNA.to_flat()
    assert meta["lstm_layers"] == 0 and meta["conv_kernel_1"] == 11 and meta["state_radius"] == 29
    assert meta["embedding_size"] == 2 and meta["batch_size"] == 123


def test_round_trip_through_a_file(tmp_path):
    path = tmp_path / "c.json"
    config = LEARNA.updated({"fc_units": 12, "embedding_size": 0})
    config.save(path, extra={"seed": 3})
    assert LearnaConfig.load(path) == config
    assert json.loads(path.read_text())["_meta"] == {"seed": 3}
    assert config.env.encoding == "binary"


def test_updated_does_not_mutate():
    changed = LEARNA.updated({"learning_rate": 1e-4})
    assert LEARNA.ppo.learning_rate == pytest.approx(5.99e-4)
    assert changed.ppo.learning_rate == pytest.approx(1e-4)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"learnin_rate": 0.1}', "unknown key 'learnin_rate'"),
        ('{"batch_size": "big"}', "batch_size must be an integer"),
        ('{"learning_rate": -1}', "learning_rate"),
        ('{"state_radius": 2}', "receptive field"),
        ('{"embedding_size": 0, "encoding": "tokens"}', "encoding"),
        ('{"gu_pairs": 1}', "true or false"),
    ],
)
def test_bad_config_files_name_the_problem(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        LearnaConfig.load(path)
    assert str(path) in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        LearnaConfig.load(tmp_path / "nope.json")
