import re

import pytest

from benchmarks.overlap import benchmark_structures, check_no_overlap, find_benchmark_files
from envs.dot_bracket import Target, read_targets
from meta.training_data import (
    GeneratorSettings,
    candidate_sequence,
    generate_structures,
    name_structures,
    paired_fraction,
    training_file_text,
    write_training_file,
)

SMALL = GeneratorSettings(count=20, min_length=50, max_length=80, seed=3)


@pytest.fixture(scope="module")
def small() -> list[str]:
    return generate_structures(SMALL)


def test_lengths_within_bounds_and_filters_hold(small):
    assert len(small) == SMALL.count
    for structure in small:
        assert SMALL.min_length <= len(structure) <= SMALL.max_length
        assert structure.count("(") >= SMALL.min_pairs
        assert SMALL.min_pair_fraction <= paired_fraction(structure) <= SMALL.max_pair_fraction


def test_no_duplicate_structures():
    # 14-16 nt: few distinct structures exist, so duplicates are frequent and must be dropped
    settings = GeneratorSettings(count=6, min_length=14, max_length=16, min_pairs=3)
    structures = generate_structures(settings)
    assert len(structures) == len(set(structures)) == 6


def test_pair_fraction_filter_is_honored():
    settings = GeneratorSettings(
        count=10, min_length=50, max_length=70, min_pair_fraction=0.6, max_pair_fraction=0.7
    )
    assert all(0.6 <= paired_fraction(s) <= 0.7 for s in generate_structures(settings))


def test_sequences_follow_the_gc_range():
    settings = GeneratorSettings(count=1, min_length=400, max_length=400, gc_min=0.6, gc_max=0.6)
    sequence = candidate_sequence(settings, 0)
    gc = (sequence.count("G") + sequence.count("C")) / len(sequence)
    assert set(sequence) <= set("ACGU") and 0.5 < gc < 0.7


def test_same_seed_same_structures_whatever_the_workers(small):
    progress = []
    again = generate_structures(SMALL, workers=2, on_progress=lambda *p: progress.append(p))
    assert again == small
    assert progress[-1][0] == SMALL.count and progress[-1][1] >= SMALL.count


def test_different_seed_different_structures(small):
    other = generate_structures(GeneratorSettings(count=20, min_length=50, max_length=80, seed=4))
    assert other != small


def test_training_file_is_a_target_file_and_reproducible(small, tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    write_training_file(first, small, SMALL)
    write_training_file(second, generate_structures(SMALL), SMALL)
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    assert text.startswith("#") and "seed=3" in text and "ViennaRNA" in text
    targets = read_targets(first)
    assert [t.structure for t in targets] == small
    assert targets[0].id == "gen-000001" and targets[-1].id == "gen-000020"
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count": 0}, "count must be >= 1"),
        ({"min_length": 5}, "min_length must be >= 10"),
        ({"min_length": 100, "max_length": 60}, "min_length (100) must be <= max_length (60)"),
        ({"gc_min": 0.7, "gc_max": 0.6}, "gc_min (0.7) must be <= gc_max (0.6)"),
        ({"gc_max": 1.5}, "gc_max must be in [0, 1]"),
        ({"min_pair_fraction": 0.9}, "min_pair_fraction (0.9) must be <= max_pair_fraction"),
        ({"min_pairs": 0}, "min_pairs must be >= 1"),
        ({"max_length": 20, "min_length": 20, "min_pairs": 9}, "cannot be met"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"mixture_weights": "mfe:1"}, "mixture_weights needs source mixture, got source 'mfe'"),
        ({"source": "mixture", "mixture_weights": "mfe:0"}, "weight > 0"),
        ({"source": "natural"}, "source must be one of mfe, ensemble, grammar, mixture"),
    ],
)
def test_bad_settings_are_refused(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        GeneratorSettings(**{"count": 1, **changes})


def test_filters_that_reject_everything_fail_with_the_reason():
    # A/U-only 20-mers almost never fold into 8 pairs
    settings = GeneratorSettings(
        count=5, min_length=20, max_length=20, gc_min=0.0, gc_max=0.0, min_pairs=8
    )
    with pytest.raises(ValueError, match="fewer than 8 base pairs"):
        generate_structures(settings)


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be >= 1"):
        generate_structures(SMALL, workers=0)


def test_benchmark_targets_are_refused(shared_data, small):
    taneda = read_targets(shared_data / "rfam_taneda.txt")
    targets = [*name_structures(small), Target("bad", taneda[4].structure)]
    with pytest.raises(ValueError, match=r"x\.txt: 1 of 21 targets .* bad = rfam-taneda:5"):
        check_no_overlap(targets, source="x.txt")
    checked = check_no_overlap(name_structures(small))
    assert "rfam-taneda" in checked and "eterna100-v1" in checked
    assert "rfam-taneda:5" in benchmark_structures()[taneda[4].structure]


def test_altered_benchmark_file_is_still_checked(tmp_path, shared_data, monkeypatch):
    monkeypatch.delenv("AUTORL_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "rfam_taneda.txt").write_text("7\t((((....))))\n")
    [found] = find_benchmark_files(tmp_path)
    assert found.name == "rfam-taneda" and not found.canonical
    with pytest.raises(ValueError, match="rfam-taneda:7"):
        check_no_overlap([Target("a", "((((....))))")], tmp_path)
    assert check_no_overlap([Target("a", "((((....))))")], tmp_path / "none") == []


@pytest.mark.parametrize(
    ("changes", "kind", "settings_text"),
    [
        ({}, "MFE structures of random sequences", "min_pairs=5 seed=0"),
        (
            {"source": "grammar"},
            "MFE structures of sequences designed for loop-grammar sketches",
            "seed=0 source=grammar",
        ),
        (
            {"source": "mixture"},
            "MFE and Boltzmann-sampled structures of random sequences",
            "source=mixture ensemble_fraction=0.5 beta_scale=1.0",
        ),
        (
            {"source": "mixture", "mixture_weights": "mfe:2,grammar:2"},
            "structures from a mixture of sources",
            "source=mixture mixture_weights=grammar:0.5,mfe:0.5",
        ),
        (
            {"source": "mixture", "mixture_weights": "ensemble:1,mfe:3"},
            "structures from a mixture of sources",
            "source=mixture beta_scale=1.0 mixture_weights=ensemble:0.25,mfe:0.75",
        ),
    ],
)
def test_file_header_names_the_source(changes, kind, settings_text):
    settings = GeneratorSettings(count=2, **changes)
    lines = training_file_text(["((((....))))", "(((...)))"], settings).splitlines()
    assert lines[0] == f"# autorl training targets: 2 {kind}"
    assert lines[2].endswith(settings_text)
