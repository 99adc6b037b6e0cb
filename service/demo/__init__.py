"""A demonstration organisation for a first look: the demo catalog, a handful of learners and
their completions (``credence demo``)."""
