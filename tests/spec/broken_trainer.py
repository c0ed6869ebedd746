"""A trainer module that cannot be imported on this machine, as a missing driver would make it."""

raise RuntimeError("this trainer needs a GPU driver")
