import json

import numpy as np
import pytest

from tinymlaas.training.metrics import classification_report, confusion_matrix

CLASSES = ["cat", "dog", "fox"]


def test_hand_computed_three_class_example() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])

    report = classification_report(y_true, y_pred, CLASSES)

    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["accuracy"] == pytest.approx(4 / 6)
    cat, dog, fox = (report["per_class"][label] for label in CLASSES)
    assert cat == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert dog == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert fox == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})


def test_rows_are_true_classes_and_columns_predictions() -> None:
    report = classification_report(np.array([0, 0]), np.array([2, 2]), CLASSES)

    assert report["confusion_matrix"] == [[0, 0, 2], [0, 0, 0], [0, 0, 0]]


def test_zero_denominators_give_zero_not_nan() -> None:
    # "dog" is never true nor predicted; "cat" is true but never predicted; "fox" never true.
    report = classification_report(np.array([0, 0]), np.array([2, 2]), CLASSES)

    assert report["accuracy"] == 0.0
    for label in CLASSES:
        metrics = report["per_class"][label]
        assert (metrics["precision"], metrics["recall"], metrics["f1"]) == (0.0, 0.0, 0.0)
    assert report["per_class"]["cat"]["support"] == 2
    assert report["per_class"]["dog"]["support"] == 0


def test_empty_inputs_give_zero_accuracy_and_empty_matrix() -> None:
    report = classification_report(np.array([], dtype=int), np.array([], dtype=int), CLASSES)

    assert report["accuracy"] == 0.0
    assert report["confusion_matrix"] == [[0, 0, 0]] * 3
    assert all(metrics["support"] == 0 for metrics in report["per_class"].values())


def test_perfect_predictions_score_one() -> None:
    labels = np.array([0, 1, 2, 2, 1])

    report = classification_report(labels, labels.copy(), CLASSES)

    assert report["accuracy"] == 1.0
    assert {metrics["f1"] for metrics in report["per_class"].values()} == {1.0}


def test_report_is_plain_json() -> None:
    report = classification_report(np.array([0, 1]), np.array([0, 0]), ["a", "b"])

    assert json.loads(json.dumps(report)) == report
    assert type(report["confusion_matrix"][0][0]) is int
    assert type(report["per_class"]["a"]["precision"]) is float
    assert type(report["per_class"]["a"]["support"]) is int


@pytest.mark.parametrize(
    ("y_true", "y_pred", "classes", "message"),
    [
        ([0, 1], [0], CLASSES, "y_true has 2 labels but y_pred has 1"),
        ([0, 3], [0, 1], CLASSES, "y_true holds class indices outside 0..2"),
        ([0, 1], [0, -1], CLASSES, "y_pred holds class indices outside 0..2"),
        ([0.0, 1.0], [0, 1], CLASSES, "y_true must hold integer class indices"),
        ([[0, 1]], [[0, 1]], CLASSES, "y_true must be 1-D class indices"),
        ([0], [0], ["a", "a"], "class labels must be unique"),
    ],
)
def test_invalid_inputs_are_rejected(
    y_true: list[int], y_pred: list[int], classes: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        classification_report(np.array(y_true), np.array(y_pred), classes)


def test_confusion_matrix_counts_match_pairs() -> None:
    generator = np.random.default_rng(7)
    y_true = generator.integers(0, 4, 500)
    y_pred = generator.integers(0, 4, 500)

    matrix = confusion_matrix(y_true, y_pred, 4)

    for true_class in range(4):
        for predicted_class in range(4):
            expected = np.sum((y_true == true_class) & (y_pred == predicted_class))
            assert matrix[true_class, predicted_class] == expected


def test_agrees_with_scikit_learn_when_installed() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    generator = np.random.default_rng(11)
    y_true = generator.integers(0, 5, 300)
    y_pred = np.where(generator.random(300) < 0.6, y_true, generator.integers(0, 5, 300))
    classes = [f"class{index}" for index in range(5)]

    report = classification_report(y_true, y_pred, classes)

    precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(5)), zero_division=0
    )
    for index, label in enumerate(classes):
        assert report["per_class"][label] == pytest.approx(
            {
                "precision": precision[index],
                "recall": recall[index],
                "f1": f1[index],
                "support": support[index],
            }
        )
    assert report["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y_true, y_pred))
