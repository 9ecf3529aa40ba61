"""Classification metrics from label indices: accuracy, per-class precision/recall/F1, confusion.

Pure NumPy. Where a ratio has a zero denominator (a class never predicted has no precision, a
class absent from `y_true` has no recall, no samples at all have no accuracy) the value is 0.0,
as scikit-learn reports with `zero_division=0`: a JSON-safe number instead of NaN, and never
flattering a class the model ignores.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np


class ClassMetrics(TypedDict):
    """One class's precision, recall, F1 and support (number of true samples)."""

    precision: float
    recall: float
    f1: float
    support: int


class ClassificationReport(TypedDict):
    """Accuracy, per-class metrics keyed by label, and the confusion matrix (rows = true)."""

    accuracy: float
    per_class: dict[str, ClassMetrics]
    confusion_matrix: list[list[int]]


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _as_labels(values: np.ndarray, name: str, num_classes: int) -> np.ndarray:
    """Return `values` as a 1-D int64 array of class indices, or raise ValueError."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    labels = array.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{name} holds class indices outside 0..{num_classes - 1}")
    return labels


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Return the num_classes × num_classes count matrix: rows true class, columns predicted."""
    true = _as_labels(y_true, "y_true", num_classes)
    predicted = _as_labels(y_pred, "y_pred", num_classes)
    if true.shape != predicted.shape:
        raise ValueError(f"y_true has {true.size} labels but y_pred has {predicted.size}")
    counts = np.bincount(true * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]
) -> ClassificationReport:
    """Score predicted class indices against true ones; `classes[i]` names index i."""
    if len(set(classes)) != len(classes):
        raise ValueError("class labels must be unique")
    matrix = confusion_matrix(y_true, y_pred, len(classes))
    correct = np.diag(matrix)
    true_counts = matrix.sum(axis=1)
    predicted_counts = matrix.sum(axis=0)
    per_class: dict[str, ClassMetrics] = {}
    for index, label in enumerate(classes):
        precision = _ratio(correct[index], predicted_counts[index])
        recall = _ratio(correct[index], true_counts[index])
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "support": int(true_counts[index]),
        }
    return {
        "accuracy": _ratio(correct.sum(), matrix.sum()),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }
