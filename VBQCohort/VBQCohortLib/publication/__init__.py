"""Journal-ready output of a cohort analysis (issue 17): Table 1 (:mod:`.table1`, tests in :mod:`.contingency`),
variable labels and data dictionaries (:mod:`.variables`), Word and Excel tables (:mod:`.word`, :mod:`.excel`),
figure export (:mod:`.figures`) and the STROBE flow diagram (:mod:`.flow`)."""
