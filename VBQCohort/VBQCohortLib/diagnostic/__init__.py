"""Diagnostic accuracy of a marker (issue 18): ROC curves equal to R pROC (:mod:`.roc`), correlation equal to R
``cor.test`` (:mod:`.correlation`), the positive-class expression (:mod:`.condition`), the whole run
(:mod:`.analysis`, ``diagnostic.json``) and its report (:mod:`.report`)."""
