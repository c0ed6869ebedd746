"""Trainers that declare more or less of the contract (hpo.contract), for test_trainer_contract.py."""

from __future__ import annotations

from pydantic import Field

from hpo.contract import StrictModel, trainer

NOT_A_FUNCTION = 3


def plain(config, report):
    """Declares nothing: any train: block, any metric, and the spec says the mode."""
    report({"epoch": 1, "score": 0.5, "finished": True})


@trainer(metrics={"score": "max", "loss": "min"})
def declared(config, report):
    report({"epoch": 1, "score": 0.5, "loss": 1.0, "finished": True})


class WidthConfig(StrictModel):
    epochs: int = Field(ge=1)
    width: int = Field(8, ge=1, le=64)


@trainer(schema=WidthConfig, metrics={"score": "max"})
def schematic(config, report):
    report({"epoch": 1, "score": 0.5, "finished": True})
