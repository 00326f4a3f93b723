"""Closed label sets (classification, NLI, multiple choice): scikit-learn's accuracy, P/R/F1 (macro,
micro and per label), confusion matrix.

An unparseable prediction (``None``) becomes the pseudo-label ``UNPARSEABLE``: it is wrong for every
gold label, shows as its own column of the confusion matrix, and is left out of the label list the
macro averages run over (so it lowers recall, never adds a class).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ils.evaluate.metrics import METRICS, headline

UNPARSEABLE = "<unparseable>"


def _labels(predictions: Sequence[Any], references: Sequence[Any]) -> list[str]:
    seen = {str(r) for r in references} | {str(p) for p in predictions if p is not None}
    return sorted(seen)


@METRICS.register("classification")
def classification(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    """Accuracy, macro/micro and per-label precision, recall and F1, and the confusion matrix
    (scikit-learn); an unparseable answer is its own column, wrong for every label."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    y_true = [str(r) for r in references]
    y_pred = [UNPARSEABLE if p is None else str(p) for p in predictions]
    labels = _labels(predictions, references)
    out = headline("classification", float(accuracy_score(y_true, y_pred)) if y_true else 0.0)
    out["accuracy"] = out["score"]
    for avg in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=avg, zero_division=0
        )
        out.update({f"{avg}_precision": float(p), f"{avg}_recall": float(r), f"{avg}_f1": float(f)})
    return {**out, **breakdown(predictions, references)}


def breakdown(predictions: Sequence[Any], references: Sequence[Any]) -> dict:
    """Per gold label: precision, recall, F1 and support; and the confusion matrix (gold rows)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = [str(r) for r in references]
    y_pred = [UNPARSEABLE if p is None else str(p) for p in predictions]
    labels = _labels(predictions, references)
    if not y_true:
        return {"per_label": {}, "confusion": {"labels": labels, "matrix": []}}
    p, r, f, n = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per = {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1-score": float(f[i]), "support": int(n[i])}
           for i, lab in enumerate(labels)}
    cols = labels + ([UNPARSEABLE] if UNPARSEABLE in y_pred else [])
    matrix = confusion_matrix(y_true, y_pred, labels=cols)
    return {"per_label": per,
            "confusion": {"labels": cols, "matrix": [[int(x) for x in row] for row in matrix[: len(labels)]]}}
