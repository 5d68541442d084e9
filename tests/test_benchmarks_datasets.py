from __future__ import annotations

import shutil

import pytest

from benchmarks.datasets import (
    DATA_ENV,
    DATASETS,
    file_sha256,
    load_dataset,
    search_dirs,
    select_targets,
    user_data_dir,
)
from envs.dot_bracket import InvalidStructureError, Target


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No AUTORL_DATA and an empty per-user cache: only --data-dir can supply files."""
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_registry_names_counts_and_hashes():
    assert list(DATASETS) == [
        "eterna100-v1",
        "eterna100-v2",
        "rfam-taneda",
        "rfam-learn-validation",
        "rfam-learn-test",
    ]
    assert {name: spec.count for name, spec in DATASETS.items()} == {
        "eterna100-v1": 100,
        "eterna100-v2": 100,
        "rfam-taneda": 29,
        "rfam-learn-validation": 100,
        "rfam-learn-test": 100,
    }
    assert DATASETS["rfam-learn-test"].sha256.startswith("28336545b388")
    assert all(len(spec.sha256) == 64 for spec in DATASETS.values())


def test_shared_files_load_with_their_hash(shared_data):
    for name, spec in DATASETS.items():
        if not (shared_data / spec.filename).exists():
            assert name == "rfam-learn-test"  # deliberately not shared
            continue
        assert file_sha256(shared_data / spec.filename) == spec.sha256
        dataset = load_dataset(name, data_dir=shared_data)
        assert dataset.registered and len(dataset.targets) == spec.count
        assert dataset.targets[0].id == "1"


def test_hash_mismatch_is_refused(isolated, shared_data):
    data = isolated / "data"
    data.mkdir()
    text = (shared_data / "rfam_taneda.txt").read_text()
    (data / "rfam_taneda.txt").write_text(text.replace("(((", "...", 1))
    with pytest.raises(ValueError, match=r"sha256 .* expected 08c695d0.*refused") as error:
        load_dataset("rfam-taneda", data_dir=data)
    assert str(data / "rfam_taneda.txt") in str(error.value)


def test_missing_file_says_where_to_put_it_and_where_it_comes_from(isolated):
    with pytest.raises(ValueError) as error:
        load_dataset("rfam-learn-test", data_dir=isolated / "nowhere")
    message = str(error.value)
    assert "rfam_learn_test.txt not found" in message
    assert str(isolated / "nowhere") in message and str(user_data_dir()) in message
    assert "--data-dir" in message and DATA_ENV in message
    assert DATASETS["rfam-learn-test"].sha256 in message
    assert "automl/learna" in message and "RNAgent" in message


def test_lookup_order_data_dir_then_env_then_cache(isolated, shared_data, monkeypatch):
    good, bad = isolated / "good", isolated / "bad"
    good.mkdir()
    bad.mkdir()
    shutil.copy(shared_data / "rfam_taneda.txt", good)
    (bad / "rfam_taneda.txt").write_text("1\t((...))\n")
    monkeypatch.setenv(DATA_ENV, str(bad))
    assert search_dirs(good) == [good, bad, user_data_dir()]
    assert load_dataset("rfam-taneda", data_dir=good).path == good / "rfam_taneda.txt"
    with pytest.raises(ValueError, match="refused"):  # the env directory comes next
        load_dataset("rfam-taneda")
    monkeypatch.setenv(DATA_ENV, str(isolated / "empty"))
    cache = user_data_dir()
    cache.mkdir(parents=True)
    shutil.copy(shared_data / "rfam_taneda.txt", cache)
    assert load_dataset("rfam-taneda").path == cache / "rfam_taneda.txt"


def test_custom_target_file_and_unknown_name(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text(">hp\n((((....))))\n((....))\n")
    dataset = load_dataset(str(path))
    assert not dataset.registered and dataset.name == "mine"
    assert [t.id for t in dataset.targets] == ["hp", "2"]
    with pytest.raises(ValueError, match="unknown dataset 'eterna200'.*eterna100-v1"):
        load_dataset("eterna200")
    path.write_text("1\t((((...\n")
    with pytest.raises(InvalidStructureError, match="mine.txt:1"):
        load_dataset(str(path))


def test_select_targets():
    targets = [Target(str(i), "((...))") for i in range(1, 15)]
    assert [t.id for t in select_targets(targets, "1,5,9-12")] == ["1", "5", "9", "10", "11", "12"]
    assert select_targets(targets, None) == targets
    with pytest.raises(ValueError, match="no target with id 15"):
        select_targets(targets, "14-15")
    with pytest.raises(ValueError, match="empty range"):
        select_targets(targets, "5-3")
