import json

import numpy as np
import pytest

import autorl.commands.data as data_command
from autorl.cli import main
from envs.dot_bracket import pair_table, read_targets
from envs.folding import mfe_structure, sample_structures
from meta.structure_grammar import grammar_candidate, sketch_structure
from meta.structure_sources import (
    ENSEMBLE_RANGES,
    GRAMMAR_RANGES,
    MFE_RANGES,
    SOURCES,
    candidate_structure,
    parse_mixture,
    structure_stats,
)
from meta.training_data import (
    GeneratorSettings,
    generate_structures,
    paired_fraction,
    training_file_text,
)

#: The documented ranges hold for samples of this size at the default settings (50-450 nt).
SAMPLE = 80
#: The samples fold on both cores (the result does not depend on the workers; the MFE and
#: ensemble samples took 44 s in one process on a slow machine).
SAMPLE_WORKERS = 2


@pytest.fixture(scope="module")
def ensemble_sample() -> list[str]:
    return generate_structures(
        GeneratorSettings(count=SAMPLE, seed=11, source="ensemble"), workers=SAMPLE_WORKERS
    )


@pytest.fixture(scope="module")
def mfe_sample() -> list[str]:
    return generate_structures(GeneratorSettings(count=SAMPLE, seed=11), workers=SAMPLE_WORKERS)


#: The grammar source's test sample: 40 structures of 50-250 nt (a few seconds).
GRAMMAR_SAMPLE = {"count": 40, "max_length": 250, "seed": 11}


@pytest.fixture(scope="module")
def grammar_sample() -> list[str]:
    return generate_structures(GeneratorSettings(**GRAMMAR_SAMPLE, source="grammar"))


def _check_ranges(stats: dict, ranges: dict) -> None:
    outside = {
        name: (stats[name], bounds)
        for name, bounds in ranges.items()
        if not bounds[0] <= stats[name] <= bounds[1]
    }
    assert not outside, f"statistics outside their documented ranges: {outside}"


@pytest.mark.slow
def test_ensemble_statistics_are_in_the_documented_ranges(ensemble_sample, mfe_sample):
    ensemble = structure_stats(ensemble_sample)
    _check_ranges(ensemble, ENSEMBLE_RANGES)
    mfe = structure_stats(mfe_sample)
    assert ensemble["lonely_pair_fraction"] > mfe["lonely_pair_fraction"]
    assert ensemble["with_lonely_pair"] > mfe["with_lonely_pair"]


def test_mfe_statistics_are_in_the_documented_ranges(mfe_sample):
    # The ensemble sample (~30 s to draw) is compared with it in the slow test above.
    _check_ranges(structure_stats(mfe_sample), MFE_RANGES)


def test_grammar_statistics_are_in_the_documented_ranges(grammar_sample):
    _check_ranges(structure_stats(grammar_sample), GRAMMAR_RANGES)


def test_grammar_has_longer_loops_and_more_multiloops_than_mfe(grammar_sample):
    grammar = structure_stats(grammar_sample)
    mfe = structure_stats(generate_structures(GeneratorSettings(**GRAMMAR_SAMPLE)))
    assert grammar["hairpin_mean"] > mfe["hairpin_mean"] + 2
    assert grammar["hairpin_max"] > 2 * mfe["hairpin_max"]
    assert grammar["interior_mean"] > mfe["interior_mean"]
    assert grammar["multiloops_per_100nt"] > mfe["multiloops_per_100nt"]
    assert grammar["mean_pair_fraction"] < mfe["mean_pair_fraction"]


@pytest.mark.parametrize("length", [10, 11, 17, 60, 233, 450])
def test_sketches_fill_the_length_and_are_balanced(length):
    for index in range(20):
        sketch = sketch_structure(length, np.random.default_rng([4, index]))
        assert len(sketch) == length and set(sketch) <= set("().")
        assert sketch.count("(") == sketch.count(")") and len(pair_table(sketch)) == length
        assert sketch.count("(") >= 1


def test_grammar_targets_are_mfe_structures_close_to_their_sketches():
    kept = []
    for index in range(8):
        sketch, target = grammar_candidate(120, np.random.default_rng([2, index]))
        assert len(target) == 120
        sketch_pairs, target_pairs = _pair_set(sketch), _pair_set(target)
        kept.append(len(sketch_pairs & target_pairs) / len(sketch_pairs))
    assert sum(kept) / len(kept) > 0.75


def _pair_set(structure: str) -> set[tuple[int, int]]:
    return {(i, int(j)) for i, j in enumerate(pair_table(structure)) if j > i}


def test_grammar_structure_is_a_function_of_the_candidate_generator():
    sequence = "A" * 90
    first = candidate_structure(sequence, np.random.default_rng([7, 3]), "grammar")
    assert candidate_structure(sequence, np.random.default_rng([7, 3]), "grammar") == first
    assert candidate_structure(sequence, np.random.default_rng([7, 4]), "grammar") != first
    assert len(first) == 90


def _original_mfe_source(settings: GeneratorSettings, index: int) -> str:
    """The generator before structure sources existed (a copy of its sampling)."""
    rng = np.random.default_rng([settings.seed, index])
    length = int(rng.integers(settings.min_length, settings.max_length, endpoint=True))
    gc = float(rng.uniform(settings.gc_min, settings.gc_max))
    probabilities = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    bases = np.array(list("ACGU"))
    return mfe_structure("".join(bases[rng.choice(4, size=length, p=probabilities)]))


def test_default_source_output_is_unchanged():
    settings = GeneratorSettings(count=15, min_length=50, max_length=80, seed=3)
    assert settings.source == "mfe"
    expected: list[str] = []
    index = 0
    while len(expected) < settings.count:  # the default filters, dedup, index order
        structure = _original_mfe_source(settings, index)
        kept = structure.count("(") >= 5 and 0.3 <= paired_fraction(structure) <= 0.8
        if kept and structure not in expected:
            expected.append(structure)
        index += 1
    assert generate_structures(settings) == expected
    header = training_file_text(expected, settings).splitlines()[:3]
    assert header[0] == "# autorl training targets: 15 MFE structures of random sequences"
    assert header[2].endswith("max_pair_fraction=0.8 min_pairs=5 seed=3")


SMALL = {"count": 10, "min_length": 50, "max_length": 80, "seed": 5}


@pytest.mark.parametrize(
    ("source", "weights"),
    [
        ("ensemble", ""),
        ("mixture", ""),
        ("grammar", ""),
        ("mixture", "mfe:0.4,ensemble:0.3,grammar:0.3"),
    ],
)
def test_same_seed_same_structures_whatever_the_workers(source, weights):
    settings = GeneratorSettings(**SMALL, source=source, mixture_weights=weights)
    first = generate_structures(settings)
    assert generate_structures(settings, workers=2) == first
    other = GeneratorSettings(**{**SMALL, "seed": 6}, source=source, mixture_weights=weights)
    assert generate_structures(other) != first


def test_mixture_draws_from_both_sources():
    mfe = generate_structures(GeneratorSettings(**SMALL))
    ensemble = generate_structures(GeneratorSettings(**SMALL, source="ensemble"))
    assert ensemble != mfe
    only_mfe = GeneratorSettings(**SMALL, source="mixture", ensemble_fraction=0.0)
    only_ensemble = GeneratorSettings(**SMALL, source="mixture", ensemble_fraction=1.0)
    assert generate_structures(only_mfe) == mfe
    assert generate_structures(only_ensemble) == ensemble
    mixed = generate_structures(GeneratorSettings(**SMALL, source="mixture"))
    assert set(mixed) & set(ensemble) - set(mfe) and set(mixed) & set(mfe) - set(ensemble)


def test_mixture_weights_mix_the_named_sources():
    by_fraction = GeneratorSettings(**SMALL, source="mixture", ensemble_fraction=0.3)
    by_weights = GeneratorSettings(**SMALL, source="mixture", mixture_weights="mfe:7,ensemble:3")
    assert generate_structures(by_weights) == generate_structures(by_fraction)
    grammar = generate_structures(GeneratorSettings(**SMALL, source="grammar"))
    only_grammar = GeneratorSettings(**SMALL, source="mixture", mixture_weights="grammar:1")
    assert generate_structures(only_grammar) == grammar
    mfe = generate_structures(GeneratorSettings(**SMALL))
    half = GeneratorSettings(**SMALL, source="mixture", mixture_weights="grammar:1,mfe:1")
    mixed = generate_structures(half)
    assert set(mixed) & set(grammar) - set(mfe) and set(mixed) & set(mfe) - set(grammar)


def test_parse_mixture():
    assert parse_mixture("mfe:2, grammar:1,ensemble:1") == {
        "ensemble": 0.25,
        "grammar": 0.25,
        "mfe": 0.5,
    }
    assert parse_mixture("grammar:1,mfe:0") == {"grammar": 1.0, "mfe": 0.0}
    for bad, message in [
        ("mfe", "name:weight items over ensemble, grammar, mfe"),
        ("natural:1", "name:weight items"),
        ("mfe:1,mfe:2", "names mfe twice"),
        ("mfe:-1", "weight of mfe must be >= 0"),
        ("mfe:x", "weight of mfe must be >= 0"),
        ("mfe:0,grammar:0", "weight > 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_mixture(bad)


@pytest.mark.parametrize("source", ["ensemble", "grammar"])
def test_filters_are_honoured(source):
    settings = GeneratorSettings(
        count=12,
        min_length=40,
        max_length=60,
        min_pair_fraction=0.5,
        max_pair_fraction=0.7,
        min_pairs=8,
        source=source,
    )
    structures = generate_structures(settings)
    assert len(structures) == len(set(structures)) == 12
    for structure in structures:
        assert 40 <= len(structure) <= 60 and structure.count("(") >= 8
        assert 0.5 <= paired_fraction(structure) <= 0.7
    mixed = "mixture" if source == "ensemble" else source
    short = GeneratorSettings(count=6, min_length=14, max_length=16, min_pairs=3, source=mixed)
    assert len(set(generate_structures(short))) == 6


def test_sampling_is_seeded():
    sequence = "GGGAAACCCAGCUUCGGCUGGGAUUUCCCAGGCGAAAGCCU"
    first = sample_structures(sequence, 5, 42)
    assert sample_structures(sequence, 5, 42) == first
    assert len(first) == 5 and all(len(s) == len(sequence) for s in first)
    with pytest.raises(ValueError, match="count must be >= 1"):
        sample_structures(sequence, 0, 1)
    with pytest.raises(ValueError, match="beta_scale must be > 0"):
        sample_structures(sequence, 1, 1, beta_scale=0.0)


def test_structure_stats_on_known_structures():
    stats = structure_stats(["((((...))))", "(.(...).)", "((...)(....))"])
    # pairs: 4 stacked, 2 lonely (interior loop of 2), 3 lonely (a 3-way multiloop)
    assert stats["lonely_pair_fraction"] == pytest.approx(5 / 9)
    assert stats["with_lonely_pair"] == pytest.approx(2 / 3)
    assert stats["hairpin_mean"] == pytest.approx((3 + 3 + 3 + 4) / 4)
    assert stats["interior_mean"] == 2 and stats["interior_max"] == 2
    assert stats["multiloops_per_100nt"] == pytest.approx(100 / 33)
    assert stats["multiloop_branches_mean"] == 3
    assert stats["mean_pair_fraction"] == pytest.approx((8 / 11 + 4 / 9 + 6 / 13) / 3)
    empty = structure_stats(["....."])
    assert empty["lonely_pair_fraction"] is None and empty["hairpin_mean"] is None


def test_cli_copies_the_sources():
    assert data_command.SOURCES == SOURCES


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--source", "natural"],
            "--source must be one of mfe, ensemble, grammar, mixture, got 'natural'",
        ),
        (
            ["--source", "grammar", "--mixture-weights", "mfe:1"],
            "--mixture-weights needs --source mixture",
        ),
        (
            ["--source", "mixture", "--mixture-weights", "mfe:1,natural:1"],
            "--mixture-weights must be name:weight items over ensemble, grammar, mfe",
        ),
        (["--source", "mixture", "--mixture-weights", "mfe:-1"], "weight of mfe must be >= 0"),
        (["--source", "mixture", "--ensemble-fraction", "1.5"], "--ensemble-fraction must be in"),
        (["--source", "ensemble", "--beta-scale", "0"], "--beta-scale must be > 0"),
    ],
)
def test_bad_source_arguments_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "x.txt"
    assert main(["data", "generate", "--count", "5", *args, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_generates_ensemble_structures_and_prints_stats(tmp_path, capsys, shared_data):
    out = tmp_path / "train.txt"
    args = ["--count", "6", "--min-length", "50", "--max-length", "70", "--quiet"]
    assert main(["data", "generate", *args, "--source", "ensemble", "--out", str(out)]) == 0
    assert "wrote 6 targets" in capsys.readouterr().err
    text = out.read_text()
    assert "Boltzmann-sampled" in text and "source=ensemble beta_scale=1.0" in text
    assert main(["data", "stats", str(out)]) == 0
    stats = json.loads(capsys.readouterr().out)[str(out)]
    assert stats["structures"] == 6
    expected = structure_stats([t.structure for t in read_targets(out)])
    assert stats["lonely_pair_fraction"] == pytest.approx(
        expected["lonely_pair_fraction"], abs=1e-3
    )
