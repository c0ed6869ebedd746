"""The spec language: a YAML file's sections (pydantic), its search space and how a trial
fills it, and the checks run on a spec before any trial (dry run, preflight).

Nothing here imports Optuna or Ray: a spec is read and judged without them."""
