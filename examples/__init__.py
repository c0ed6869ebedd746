"""Trainers written against hpo's trainer contract (docs/trainer-contract.md), outside hpo."""
