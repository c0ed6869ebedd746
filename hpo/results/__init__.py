"""After the run, from the stored study alone: the trials table (``hpo status``), the HTML
report, exported training configs, retraining over seeds, scoring saved weights (``hpo
evaluate``), the live dashboard and each trial's log (``hpo logs``)."""
