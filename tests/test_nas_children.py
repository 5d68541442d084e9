"""Child networks of NAS-as-MDP: datasets, building, training and the evaluator."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from envs.nas_children import (
    DATASETS,
    ChildEvaluator,
    ChildRecipe,
    InvalidArchitecture,
    build_child,
    child_accuracy,
    dataset_dims,
    fit_child,
    load_dataset,
    train_child,
)
from envs.nas_space import Architecture, Layer, NasSpace

FAST = ChildRecipe(epochs=1, batch_size=64)


def chain(kernel: tuple[int, ...], filters: int = 8, layers: int = 2) -> Architecture:
    return Architecture(
        tuple(Layer(kernel, filters, 1, (i - 1,) if i else ()) for i in range(layers))
    )


def conv_params(c_in: int, c_out: int, kernel: int) -> int:
    return c_in * c_out * kernel + c_out + 2 * c_out  # weights, bias, BatchNorm


# --- datasets ---------------------------------------------------------------------------------


def test_dataset_dims_without_loading_and_unknown_names():
    assert DATASETS == ("mnist1d", "digits")
    assert dataset_dims("mnist1d") == 1
    assert dataset_dims("digits") == 2
    with pytest.raises(ValueError, match="mnist1d"):
        dataset_dims("cifar10")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar10")


def test_digits_splits_sizes_shapes_and_disjoint():
    splits = load_dataset("digits")
    assert splits.name == "digits"
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (1149, 288, 360)
    assert splits.input_shape == (1, 8, 8)
    assert splits.n_classes == 10
    for x, y in [
        (splits.x_train, splits.y_train),
        (splits.x_val, splits.y_val),
        (splits.x_test, splits.y_test),
    ]:
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape == (len(y), 1, 8, 8)
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert not x.flags.writeable
    rows = [
        {row.tobytes() + bytes([label]) for row, label in zip(x, y)}
        for x, y in [
            (splits.x_train, splits.y_train),
            (splits.x_val, splits.y_val),
            (splits.x_test, splits.y_test),
        ]
    ]
    assert sum(len(r) for r in rows) == len(set().union(*rows))  # no sample in two splits
    assert load_dataset("digits") is splits  # memoized


def test_mnist1d_splits_and_global_random_state_untouched():
    random.seed(7)
    np.random.seed(7)
    expected = (random.random(), np.random.random())
    random.seed(7)
    np.random.seed(7)
    load_dataset.cache_clear()
    splits = load_dataset("mnist1d")
    assert (random.random(), np.random.random()) == expected
    assert splits.input_shape == (1, 40)
    assert splits.n_classes == 10
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (3200, 800, 1000)
    assert splits.x_train.dtype == np.float32 and splits.y_val.dtype == np.int64
    assert splits.x_test.shape == (1000, 1, 40)


# --- building ---------------------------------------------------------------------------------


def test_build_1d_skips_of_different_sizes_are_padded_and_concatenated():
    architecture = Architecture(
        (
            Layer((3,), 8, 1, ()),  # 40
            Layer((5,), 4, 2, (0,)),  # 20
            Layer((3,), 6, 3, (0, 1)),  # reads 8 + 4 channels padded to 40 -> 14
            Layer((1,), 5, 2, ()),  # data -> 20
        )
    )
    model = build_child(architecture, (1, 40), 10)
    assert model.layers[2][0].in_channels == 12
    assert model.outputs == (2, 3)
    features = model.features(torch.zeros(3, 1, 40))
    assert features.shape == (3, 11, 20)  # 6 + 5 channels, 14 padded to 20
    assert model.classifier.in_features == 11 * 20
    assert model(torch.randn(3, 1, 40)).shape == (3, 10)
    expected = (
        conv_params(1, 8, 3)
        + conv_params(8, 4, 5)
        + conv_params(12, 6, 3)
        + conv_params(1, 5, 1)
        + 220 * 10
        + 10
    )
    assert sum(p.numel() for p in model.parameters()) == expected


def test_pad_is_zero_at_the_end():
    architecture = Architecture((Layer((1,), 2, 1, ()), Layer((1,), 2, 2, (0,))))
    model = build_child(architecture, (1, 6), 3)
    # layer 0 is read by layer 1, so only layer 1 (size 3) feeds the classifier: no padding
    assert model.features(torch.zeros(1, 1, 6)).shape == (1, 2, 3)
    both = Architecture((Layer((1,), 2, 1, ()), Layer((1,), 2, 2, ())))
    model = build_child(both, (1, 6), 3).eval()
    features = model.features(torch.randn(1, 1, 6))
    assert features.shape == (1, 4, 6)
    assert torch.all(features[0, 2:, 3:] == 0)  # layer 1's outputs padded at the end


def test_build_2d_with_rectangular_kernels_and_strides():
    architecture = Architecture(
        (
            Layer((3, 5), 6, 1, ()),  # 8x8
            Layer((1, 3), 4, 2, (0,)),  # 4x4
            Layer((3, 1), 5, 3, ()),  # data -> 3x3
        )
    )
    model = build_child(architecture, (1, 8, 8), 10)
    assert model.layers[0][0].kernel_size == (3, 5)
    assert model.outputs == (1, 2)
    assert model.features(torch.zeros(2, 1, 8, 8)).shape == (2, 9, 4, 4)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_space_architectures_build_for_both_datasets():
    for dims, shape in [(1, (1, 40)), (2, (1, 8, 8))]:
        space = NasSpace(layers=3, dims=dims, strides=(1, 2, 3))
        rng = np.random.default_rng(0)
        for _ in range(5):
            actions = [int(rng.integers(d.arity)) for d in space.decisions()]
            model = build_child(space.decode(actions), shape, 10)
            assert model(torch.zeros(2, *shape)).shape == (2, 10)


def test_invalid_architectures():
    collapsing = Architecture((Layer((7, 7), 4, 1, ()), Layer((5, 5), 4, 1, (0,))))
    build_child(collapsing, (1, 8, 8), 10)  # fine with "same" padding
    with pytest.raises(
        InvalidArchitecture,
        match=r"layer 1: spatial size 0x0 after kernel 5x5, stride 1 \(input 2x2\)",
    ):
        build_child(collapsing, (1, 8, 8), 10, padding="valid")
    with pytest.raises(InvalidArchitecture, match="layer 0: kernel 3x3 has 2 entries"):
        build_child(chain((3, 3)), (1, 40), 10)
    with pytest.raises(InvalidArchitecture, match="layer 0: kernel 3 has 1 entries"):
        build_child(chain((3,)), (1, 8, 8), 10)
    with pytest.raises(InvalidArchitecture, match="exceed max_params 100") as caught:
        build_child(chain((3,)), (1, 40), 10, max_params=100)
    count = sum(p.numel() for p in build_child(chain((3,)), (1, 40), 10).parameters())
    assert caught.value.parameters == count
    restored = pickle.loads(pickle.dumps(caught.value))
    assert str(restored) == str(caught.value) and restored.parameters == count
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidArchitecture, match="layer 0: inputs"):
        build_child(Architecture((Layer((3,), 4, 1, (0,)),)), (1, 40), 10)
    with pytest.raises(InvalidArchitecture, match="layer 0: kernel, filters and stride"):
        build_child(Architecture((Layer((3,), 4, 0, ()),)), (1, 40), 10)
    with pytest.raises(InvalidArchitecture, match="no layers"):
        build_child(Architecture(()), (1, 40), 10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"padding": "full"}, "padding"),
        ({"max_params": 0}, "max_params"),
        ({"input_shape": (40,)}, "input_shape"),
        ({"input_shape": (1, 0)}, "input_shape"),
        ({"n_classes": 0}, "n_classes"),
    ],
)
def test_build_bad_arguments_are_value_errors(kwargs, match):
    arguments = {"input_shape": (1, 40), "n_classes": 10, **kwargs}
    with pytest.raises(ValueError, match=match) as caught:
        build_child(chain((3,)), **arguments)
    assert not isinstance(caught.value, InvalidArchitecture)


# --- recipe and training ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", 1.5),
        ("epochs", True),
        ("batch_size", 0),
        ("learning_rate", 0.0),
        ("learning_rate", float("nan")),
        ("weight_decay", -1e-4),
        ("seed", -1),
        ("padding", "full"),
        ("max_params", 0),
        ("device", "gpu"),
        ("device", "cpu:1"),
        ("threads", 0),
    ],
)
def test_bad_recipes(field, value):
    with pytest.raises(ValueError, match=field):
        ChildRecipe(**{field: value})


def test_recipe_round_trip_and_device_spelling():
    recipe = ChildRecipe(epochs=3, device=" CUDA:1 ", max_params=1000)
    assert recipe.device == "cuda:1"
    assert ChildRecipe(**recipe.to_dict()) == recipe
    assert ChildRecipe().to_dict()["epochs"] == 3


def test_train_child_is_deterministic_and_test_only_on_request():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    architecture = chain((3, 3), filters=8)
    first = train_child(architecture, "digits", FAST)
    assert torch.rand(1) == expected  # the caller's torch random state is untouched
    second = train_child(architecture, "digits", FAST)
    assert first["val_accuracy"] == second["val_accuracy"]
    assert 0.2 < first["val_accuracy"] <= 1.0
    assert set(first) == {"val_accuracy", "parameters", "seconds", "epochs", "device", "invalid"}
    assert first["invalid"] is None and first["epochs"] == 1 and first["device"] == "cpu"
    assert first["parameters"] == sum(
        p.numel() for p in build_child(architecture, (1, 8, 8), 10).parameters()
    )
    tested = train_child(architecture, "digits", FAST, test=True)
    assert tested["val_accuracy"] == first["val_accuracy"]
    assert 0.0 <= tested["test_accuracy"] <= 1.0
    other_seed = train_child(architecture, "digits", ChildRecipe(epochs=1, batch_size=64, seed=1))
    assert other_seed["val_accuracy"] != first["val_accuracy"]


def test_fit_child_gives_identical_weights_for_a_seed():
    splits = load_dataset("digits")
    x, y = torch.tensor(splits.x_train[:300]), torch.tensor(splits.y_train[:300])
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_child(chain((3, 3)), splits.input_shape, 10)
        fit_child(model, x, y, ChildRecipe(epochs=2, batch_size=64))
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    accuracy = child_accuracy(model, x, y)
    assert 0.0 <= accuracy <= 1.0
    assert not model.training  # measured in eval mode


def test_fit_child_skips_a_last_batch_of_one():
    model = build_child(Architecture((Layer((1,), 2, 8, ()),)), (1, 8), 2)  # spatial size 1
    x, y = torch.randn(5, 1, 8), torch.tensor([0, 1, 0, 1, 0])
    fit_child(model, x, y, ChildRecipe(batch_size=4, epochs=1))  # BatchNorm would fail on 1


def test_train_child_threads_restored_and_mnist1d():
    before = torch.get_num_threads()
    recipe = ChildRecipe(epochs=1, threads=2, device="auto")
    result = train_child(chain((5,), filters=8), "mnist1d", recipe)
    assert torch.get_num_threads() == before
    assert result["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert 0.0 < result["val_accuracy"] <= 1.0


def test_train_child_reports_invalid_architectures_without_raising():
    collapsing = Architecture((Layer((7, 7), 4, 1, ()), Layer((5, 5), 4, 1, (0,))))
    recipe = ChildRecipe(epochs=1, padding="valid")
    result = train_child(collapsing, "digits", recipe, test=True)
    assert result["val_accuracy"] == 0.0 and result["test_accuracy"] == 0.0
    assert result["parameters"] == 0
    assert result["invalid"].startswith("layer 1: spatial size")
    assert result["epochs"] == 1 and result["device"] == "cpu" and result["seconds"] >= 0
    too_big = train_child(chain((3, 3)), "digits", ChildRecipe(max_params=50))
    assert "max_params 50" in too_big["invalid"] and too_big["parameters"] > 50


def test_train_child_refuses_unknown_datasets_and_missing_cuda():
    with pytest.raises(ValueError, match="unknown dataset"):
        train_child(chain((3,)), "cifar10", FAST)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            train_child(chain((3, 3)), "digits", ChildRecipe(device="cuda"))


# --- evaluator --------------------------------------------------------------------------------


def test_evaluator_power_and_pickling():
    architecture = chain((3, 3), filters=8)
    artifact = architecture.to_dict()
    evaluator = pickle.loads(pickle.dumps(ChildEvaluator("digits", FAST, power=3)))
    reward, info = evaluator(artifact, {"instance": 0})
    assert info["architecture"] == artifact
    assert reward == pytest.approx(info["val_accuracy"] ** 3)
    assert info["val_accuracy"] == train_child(architecture, "digits", FAST)["val_accuracy"]
    linear, _ = ChildEvaluator("digits", FAST)(artifact, {})
    assert linear == pytest.approx(info["val_accuracy"])
    assert "digits" in repr(evaluator)


def test_evaluator_invalid_artifacts():
    evaluator = ChildEvaluator("mnist1d", FAST, power=3)
    reward, info = evaluator(chain((3, 3)).to_dict(), {})  # 2-D kernels on 1-D data
    assert reward == 0.0 and "has 2 entries" in info["invalid"]
    with pytest.raises(ValueError, match="layers"):
        evaluator({"not": "an architecture"}, {})


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("cifar10", FAST, 1.0), "unknown dataset"),
        (("digits", FAST, 0.0), "power"),
        (("digits", FAST, float("inf")), "power"),
        (("digits", FAST, "3"), "power"),
        (("digits", {"epochs": 1}, 1.0), "ChildRecipe"),
    ],
)
def test_evaluator_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        ChildEvaluator(*args)


def test_cosine_schedule_is_validated_and_changes_the_training():
    with pytest.raises(ValueError, match="schedule must be one of"):
        ChildRecipe(schedule="linear")
    architecture = Architecture((Layer((3, 3), 8),))
    constant = train_child(architecture, "digits", ChildRecipe(epochs=2, batch_size=64))
    cosine = ChildRecipe(epochs=2, batch_size=64, schedule="cosine")
    first = train_child(architecture, "digits", cosine)
    assert first["val_accuracy"] == train_child(architecture, "digits", cosine)["val_accuracy"]
    assert first["val_accuracy"] != constant["val_accuracy"]
