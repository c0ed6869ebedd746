"""Training code for hpo: data sets, augmentation, models, optimizers and the loop.

The contract with hpo is `trainers.loop.train(config, report)`; `trainers.config` validates
configs without importing torch. This package imports nothing at its top level so that
`import trainers.config` stays fast.
"""
