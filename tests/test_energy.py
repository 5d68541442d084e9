import math

import numpy as np
import pytest
import RNA

from envs import folding
from envs.folding import (
    DEFAULT_ENERGY,
    ENERGY_PARAMETER_SETS,
    EnergyModel,
    check_energy_model,
    design_metrics,
    energy_of_structure,
    fold,
    mfe_structure,
    structure_energies,
    suboptimal_structures,
)

HAIRPIN = "GGGCGCAAGCCUUUGCGCCC"  # a stable 8-pair hairpin
HAIRPIN_TARGET = "((((((((....))))))))"
HOT = EnergyModel(temperature=50.0)


@pytest.fixture(autouse=True)
def _restore_default_model():
    yield
    fold("GGGGAAAACCCC")  # leave ViennaRNA's globals at the default for whatever runs next


def test_default_model_is_viennas_default():
    assert EnergyModel(37.0, "turner2004", 2, False) == DEFAULT_ENERGY
    assert DEFAULT_ENERGY.is_default and not HOT.is_default
    assert DEFAULT_ENERGY.to_dict() == {
        "temperature": 37.0,
        "energy_params": "turner2004",
        "dangles": 2,
        "no_lonely_pairs": False,
    }


def test_default_fold_equals_vienna_default_fold():
    structure, energy = fold(HAIRPIN)
    # Turner 2004 at 37 degrees with -d2 (ViennaRNA's defaults).
    assert structure == HAIRPIN_TARGET
    assert energy == pytest.approx(-13.7, abs=1e-3)
    assert fold("GGGGAAAACCCC") == ("((((....))))", pytest.approx(-5.4, abs=1e-3))
    details = RNA.md()
    details.temperature, details.dangles, details.noLP = 37.0, 2, 0
    reference, reference_energy = RNA.fold_compound(HAIRPIN, details).mfe()
    assert (structure, energy) == (reference, pytest.approx(reference_energy, abs=1e-6))
    assert fold(HAIRPIN, DEFAULT_ENERGY) == fold(HAIRPIN, None)
    assert mfe_structure(HAIRPIN) == structure


def test_temperature_changes_the_energy_and_switching_back_restores_the_default():
    first = fold(HAIRPIN)
    hot = fold(HAIRPIN, HOT)
    assert hot[0] == HAIRPIN_TARGET
    assert hot[1] > first[1] + 1.0  # less stable at 50 degrees
    assert RNA.cvar.temperature == pytest.approx(50.0)
    assert fold(HAIRPIN) == first
    assert RNA.cvar.temperature == pytest.approx(37.0)
    assert energy_of_structure(HAIRPIN, HAIRPIN_TARGET) == pytest.approx(first[1], abs=1e-3)
    assert energy_of_structure(HAIRPIN, HAIRPIN_TARGET, HOT) == pytest.approx(hot[1], abs=1e-3)
    assert design_metrics(HAIRPIN, HAIRPIN_TARGET)["mfe_energy"] == round(first[1], 2)
    assert design_metrics(HAIRPIN, HAIRPIN_TARGET, HOT)["mfe_energy"] == round(hot[1], 2)
    assert fold(HAIRPIN) == first


def test_structure_energies_follow_every_switch_of_the_model():
    # The evaluation compound's model details are made once per model: switching back and
    # forth must still evaluate under the model asked for (each checked against a fold's
    # MFE energy under that model; dangles 0 and the Andronescu set change the energy too).
    models = [
        None,
        HOT,
        EnergyModel(dangles=0),
        EnergyModel(params="andronescu2007"),
        EnergyModel(no_lonely_pairs=True),
    ]
    flanked = "AA" + HAIRPIN + "AA"  # dangling ends: dangles 0 changes its energy
    expected = {model: fold(flanked, model) for model in models}
    assert len({round(energy, 2) for _, energy in expected.values()}) >= 4
    for model in [*models, *reversed(models), HOT, None, HOT]:
        structure, energy = expected[model]
        assert energy_of_structure(flanked, structure, model) == pytest.approx(energy, abs=1e-3)


def _compound_energies(sequence, structures, model):
    """The energies of an evaluation-only fold compound made for ``sequence`` (the reference)."""
    folding._activate(model)
    compound = RNA.fold_compound(sequence, RNA.md(), RNA.OPTION_EVAL_ONLY)
    return [compound.eval_structure(s) for s in structures]


def _formable(sequence, structure):
    """Whether ``sequence`` can close every pair of ``structure`` (AU, GC or GU)."""
    pairs = RNA.ptable(structure)
    return all(
        sequence[i - 1] + sequence[j - 1] in folding.CANONICAL_PAIRS
        for i, j in enumerate(pairs[1:], start=1)
        if j > i
    )


@pytest.mark.parametrize("fallback", [False, True], ids=["energy_of_structure", "fold_compound"])
def test_structure_energies_equal_a_fresh_evaluation_compound_for_every_sequence_and_model(
    tmp_path, monkeypatch, fallback
):
    # structure_energies evaluates with ViennaRNA's energy_of_structure, which keeps one
    # compound between calls (or, without it, with a new compound per call): every call
    # must give exactly what a compound made for its own sequence gives, whatever
    # sequence, length and model the call before had.
    if fallback:
        monkeypatch.setattr(folding, "_ENERGY_OF_STRUCTURE", None)
    fold(HAIRPIN, EnergyModel(params="langdon2018"))
    path = tmp_path / "langdon.par"
    RNA.params_save(str(path))
    models = [
        None,
        HOT,
        EnergyModel(dangles=0),
        EnergyModel(params="andronescu2007"),
        EnergyModel(params=str(path), temperature=25.0),
    ]
    rng = np.random.default_rng(3)
    cases = []
    for index in range(60):
        model = models[index % len(models)]
        length = int(rng.choice([12, 40, 97, 160]))
        sequence, other = ("".join(rng.choice(list("ACGU"), length)) for _ in range(2))
        # Its own MFE structure, another sequence's (pairs it may not form) and the open chain.
        structures = [mfe_structure(sequence, model), mfe_structure(other, model), "." * length]
        cases.append((sequence, structures, model, _compound_energies(sequence, structures, model)))
    unformable = 0
    for case in rng.permutation(len(cases)):  # most calls under another model than the last
        sequence, structures, model, expected = cases[case]
        got = structure_energies(sequence, structures, model)
        for value, reference, structure in zip(got, expected, structures):
            if _formable(sequence, structure):
                assert value == reference, (model, sequence, structure)
            else:
                assert value == math.inf
                unformable += 1
    assert 0 < unformable < 60  # some structures have pairs their sequence cannot form


@pytest.mark.parametrize("name", ["andronescu2007", "langdon2018"])
def test_shipped_parameter_sets_load_and_differ_from_turner(name):
    sequence = "GCGCGCGAAAGCGCGC"
    default = fold(sequence)
    model = EnergyModel(params=name)
    check_energy_model(model)
    structure, energy = fold(sequence, model)
    assert structure == "((((((....))))))"
    assert energy != pytest.approx(default[1], abs=1e-3)
    assert fold(sequence, model) == (structure, energy)
    assert fold(sequence) == default


def test_all_shipped_parameter_set_names_exist_in_vienna():
    for loader in ENERGY_PARAMETER_SETS.values():
        assert callable(getattr(RNA, loader))


def test_parameter_file_loads_like_the_set_it_was_saved_from(tmp_path):
    sequence = "GCGCGCGAAAGCGCGC"
    andronescu = EnergyModel(params="andronescu2007")
    expected = fold(sequence, andronescu)
    path = tmp_path / "andronescu.par"
    RNA.params_save(str(path))  # the active set: Andronescu 2007
    default = fold(sequence)
    from_file = EnergyModel(params=str(path))
    check_energy_model(from_file)
    assert fold(sequence) == default  # checking leaves the active model alone
    assert fold(sequence, from_file) == expected
    assert fold(sequence) == default


def test_unknown_parameter_name_is_refused_with_the_name():
    with pytest.raises(ValueError, match="turner1999"):
        EnergyModel(params="turner1999")


@pytest.mark.parametrize(
    "text", ["", "## RNAfold parameter file v2.0\n\n# stack\nfoo bar baz\n"], ids=["empty", "junk"]
)
def test_unreadable_parameter_file_is_refused_before_any_work(tmp_path, text):
    path = tmp_path / "bad.par"
    path.write_text(text, encoding="utf-8")
    default = fold(HAIRPIN)
    model = EnergyModel(params=str(path))  # the file exists: accepted until loaded
    with pytest.raises(ValueError, match="bad.par"):
        check_energy_model(model)
    assert fold(HAIRPIN) == default
    with pytest.raises(ValueError, match="bad.par"):
        fold(HAIRPIN, model)
    assert fold(HAIRPIN) == default
    assert fold(HAIRPIN, HOT)[1] > default[1]  # the failed load left a usable state behind


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a ViennaRNA parameter file\n1 2 3\n",
        b"# stack\n-240 -330\n",
        bytes(range(256)) * 4,
    ],
    ids=["text", "headerless", "binary"],
)
def test_garbage_parameter_file_is_refused_through_check_energy_model(tmp_path, content):
    path = tmp_path / "garbage.par"
    path.write_bytes(content)
    default = fold(HAIRPIN)
    with pytest.raises(ValueError, match="garbage.par"):
        check_energy_model(EnergyModel(params=str(path)))
    assert fold(HAIRPIN) == default


def test_partial_parameter_file_gives_the_same_result_whatever_was_active(tmp_path):
    sequence = "GCGCGCGAAAGCGCGCAAUUAGCUAGCUAGGCAUCGAUCGGGAUUUAUAUCCC"
    fold(sequence)  # Turner 2004 active
    full = tmp_path / "turner.par"
    RNA.params_save(str(full))
    header, stack, *_ = full.read_text(encoding="utf-8").split("\n# ")
    path = tmp_path / "stack_only.par"
    path.write_text(f"{header}\n# {stack}\n# END\n", encoding="utf-8")
    model = EnergyModel(params=str(path))
    check_energy_model(model)
    after_default = fold(sequence, model)
    fold(sequence, EnergyModel(params="andronescu2007"))
    assert fold(sequence, model) == after_default


@pytest.mark.parametrize("dangles", [1, 3, -1])
def test_dangles_must_be_0_or_2(dangles):
    with pytest.raises(ValueError, match="dangles"):
        EnergyModel(dangles=dangles)


def test_dangles_zero_is_applied():
    flanked = "AAGGGGAAAACCCCAA"  # unpaired ends: dangling-end energies apply with -d2
    default = fold(flanked)
    no_dangles = fold(flanked, EnergyModel(dangles=0))
    assert default[0] == no_dangles[0] == "..((((....)))).."
    assert no_dangles[1] > default[1] + 0.5
    assert fold(flanked) == default


@pytest.mark.parametrize("temperature", [-60.0, 151.0, float("nan"), float("inf")])
def test_temperature_out_of_range_is_refused(temperature):
    with pytest.raises(ValueError, match="temperature"):
        EnergyModel(temperature=temperature)


@pytest.mark.parametrize("energy", [None, HOT], ids=["default", "50C"])
def test_design_metrics_of_a_solved_design(energy):
    metrics = design_metrics(HAIRPIN, HAIRPIN_TARGET, energy)
    structure, mfe = fold(HAIRPIN, energy)
    assert metrics["mfe_structure"] == structure == HAIRPIN_TARGET
    assert metrics["mfe_energy"] == round(mfe, 2)
    assert metrics["distance"] == 0
    assert 0.0 < metrics["probability"] <= 1.0
    assert 0.0 <= metrics["ensemble_defect"] <= 1.0
    assert metrics["probability"] > 0.5 and metrics["ensemble_defect"] < 0.2


def test_design_metrics_probability_is_the_boltzmann_weight():
    metrics = design_metrics(HAIRPIN, HAIRPIN_TARGET)
    compound = RNA.fold_compound(HAIRPIN)
    _, ensemble = compound.pf()
    kt = 0.0019872 * (37.0 + 273.15)  # kcal/mol
    energy = energy_of_structure(HAIRPIN, HAIRPIN_TARGET)
    assert metrics["probability"] == pytest.approx(math.exp((ensemble - energy) / kt), rel=1e-2)


def test_design_metrics_of_a_poor_design():
    sequence = "AAAAAAAAAAAAAAAAAAAA"
    metrics = design_metrics(sequence, HAIRPIN_TARGET)
    assert metrics["mfe_structure"] == fold(sequence)[0]
    assert metrics["distance"] == sum(
        a != b for a, b in zip(metrics["mfe_structure"], HAIRPIN_TARGET)
    )
    assert metrics["distance"] > 0
    assert 0.0 <= metrics["probability"] < 1e-3
    assert 0.5 < metrics["ensemble_defect"] <= 1.0
    with pytest.raises(ValueError, match="differ"):
        design_metrics(sequence, HAIRPIN_TARGET[:-1])


@pytest.mark.parametrize("energy", [None, HOT, EnergyModel(dangles=0)])
def test_suboptimal_structures_are_the_band_above_the_mfe_lowest_first(energy):
    sequence = "CCGUAAUGCCUUUCCCUAACAGAGUUUUUCGAACUCGUGUUGUCGAGCGACGGAAUUAGA"
    structure, mfe = fold(sequence, energy)
    found = suboptimal_structures(sequence, 1.5, energy)
    energies = [e for _, e in found]
    assert len(found) > 3 and energies == sorted(energies)
    assert energies[0] == pytest.approx(mfe) and structure in dict(found)
    assert all(e <= mfe + 1.5 + 1e-6 for e in energies)
    for candidate, value in found:  # each is that structure's energy under the model
        assert energy_of_structure(sequence, candidate, energy) == pytest.approx(value)
    assert len({s for s, _ in found}) == len(found)
    # A wider band holds the narrower one; band 0 holds the MFE's energy alone.
    wider = dict(suboptimal_structures(sequence, 2.5, energy))
    assert set(dict(found)) < set(wider)
    assert {e for _, e in suboptimal_structures(sequence, 0.0, energy)} == {energies[0]}


@pytest.mark.parametrize("band", [-0.1, math.inf, math.nan])
def test_a_bad_band_is_refused(band):
    with pytest.raises(ValueError, match="band"):
        suboptimal_structures("GGGGAAAACCCC", band)
