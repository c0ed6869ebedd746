"""A trainer for hpo that is not the built-in one: scikit-learn's SGDClassifier on the
handwritten digits (ship with scikit-learn), one ``partial_fit`` pass per epoch.

It uses the whole trainer contract (hpo.contract, docs/trainer-contract.md): a config
schema, so a spec's typos are errors before any trial; the metrics it reports, with the
direction that is better, so a spec needs no ``mode``; and ``train(config, report)``
reporting ``epoch``, ``val_acc`` and ``finished`` once per epoch.

    hpo run examples/sklearn_digits.yaml
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hpo.contract import StrictModel, trainer


class SGDConfig(StrictModel):
    """The config hpo fills and validates: the spec's ``train:`` block with the trial's values."""

    seed: int = 0  # the validation split, the shuffling and the model's own randomness
    epochs: int = Field(ge=1)  # passes over the training split; hpo requires it
    loss: Literal["hinge", "log_loss", "modified_huber", "perceptron"] = "hinge"
    alpha: float = Field(1.0e-4, gt=0)  # L2 regularisation strength
    learning_rate: Literal["optimal", "constant", "invscaling"] = "optimal"
    eta0: float = Field(0.01, gt=0)  # the initial rate of constant and invscaling
    val_fraction: float = Field(0.2, gt=0, lt=1)


@trainer(schema=SGDConfig, metrics={"val_acc": "max", "train_acc": "max"})
def train(config: dict, report) -> dict:
    """Fit one pass per epoch and report accuracy on both splits; returns the last report."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    cfg = SGDConfig.model_validate(config)
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=cfg.val_fraction, random_state=cfg.seed, stratify=y)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    model = SGDClassifier(loss=cfg.loss, alpha=cfg.alpha, learning_rate=cfg.learning_rate, eta0=cfg.eta0, random_state=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(y_train))
        model.partial_fit(x_train[order], y_train[order], classes=np.arange(10))
        metrics = {
            "epoch": epoch,
            "train_acc": float(model.score(x_train, y_train)),
            "val_acc": float(model.score(x_val, y_val)),
            "finished": epoch == cfg.epochs,
        }
        report(metrics)
    return metrics
