"""Training code for hpo: data sets, augmentation, models, optimizers and the loop.

hpo's default trainer is `trainers.loop.train(config, report)`, which declares its config
schema, metrics, check and probe with `hpo.contract.trainer`; `trainers.config` validates
configs against the schemas registered beside each builder. This package imports nothing
at its top level: importing `trainers` costs nothing until a module of it is used.
"""
