"""The ``vbq`` command line: one front end over VBQScoreLib and VBQCohortLib."""
