"""Reading tables and preparing a cohort: ``spreadsheet`` (read_table: CSV/TSV/XLSX), ``delimited`` (the fast
CSV/TSV path through pandas' C tokenizer), ``cells`` (what a cell means: missing tokens, numbers, ids), ``labels``
(finding columns and values however they are spelled), ``terms`` (model term names and level order), ``join``
(the VBQ results joined to the clinical table), ``cohort`` (CohortSpec, prepare_cohort)."""
