"""The run: Ray Tune trials, proposed by an Optuna sampler through hpo's searcher, stopped
early by ASHA, each calling the trainer; the live progress panel. The only part of hpo
that imports Ray."""
