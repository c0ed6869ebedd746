"""Training code for hpo: data sets, augmentation, models, optimizers and the loop.

The contract with hpo is `trainers.loop.train(config, report)`; `trainers.config` validates
configs against the schemas registered beside each builder. This package imports nothing
at its top level: importing `trainers` costs nothing until a module of it is used.
"""
