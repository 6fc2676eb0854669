# Reference for Testing/test_terms.py: how R names model terms of text covariates, on terms_cohort.csv (written
# by make_synthetic_cohorts.py), for glm and MatchIt 4.5.1. Writes terms_reference.json. Run from this folder:
#   Rscript terms_reference.R [out.json]
# Text columns become factors the way glm/model.matrix make them (factor(): treatment coding, the first level
# in sorted order is the reference, dummies named <column><level>, spaces kept). The levels are sorted in the
# C locale (LC_COLLATE=C: by character code), the order VBQCohortLib.terms uses; levels_utf8 records the order
# R uses in a UTF-8 locale (ICU collation), where it differs for 'diet' (levels differing in letter case).
# 'grade' holds the numbers 1, 2, 10 and is declared categorical: factor() sorts numbers by value.
suppressPackageStartupMessages({library(MatchIt); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "terms_reference.json"

d <- read.csv("terms_cohort.csv", stringsAsFactors = FALSE)
text_cols <- c("sex", "hypertension", "smoking", "diet")
utf8 <- suppressWarnings(Sys.setlocale("LC_COLLATE", "C.UTF-8"))
levels_utf8 <- if (nzchar(utf8) && capabilities("ICU")) lapply(d[, text_cols], function(x) levels(factor(x))) else NULL
invisible(Sys.setlocale("LC_COLLATE", "C"))
for (v in text_cols) d[[v]] <- factor(d[[v]])
d$grade <- factor(d$grade)
d$treated <- as.integer(d$diagnosis == "OPLL")
rownames(d) <- d$patient_id

covs <- c("age", "sex", "bmi", "hypertension", "diabetes", "smoking", "diet", "grade")
f <- as.formula(paste("treated ~", paste(covs, collapse = " + ")))
fit <- glm(f, data = d, family = binomial)
co_tab <- summary(fit)$coefficients
ci <- exp(confint.default(fit))
terms <- list()
for (t in rownames(co_tab)) terms[[t]] <- list(coef = co_tab[t, 1], se = co_tab[t, 2], p = co_tab[t, 4],
                                                odds_ratio = exp(co_tab[t, 1]), ci_low = ci[t, 1], ci_high = ci[t, 2])

m <- matchit(f, data = d, method = "nearest", distance = "glm", link = "linear.logit", caliper = 0.2,
             std.caliper = TRUE, m.order = "largest", replace = FALSE, ratio = 1)
mm <- m$match.matrix
mm <- mm[!is.na(mm[, 1]), , drop = FALSE]

doubles <- c(2, 2.5, 0.1, 1 / 3, 1e5, 1e6, 123456, 1e-4, 0.001, -3, 1234567.1, 1e15, 20000, 3e-5, 10, 1e-20)
res <- list(
  glm = list(terms = terms, n = nobs(fit)),
  propensity_coef = as.list(m$model$coefficients),
  pairs = setNames(as.list(mm[, 1]), rownames(mm)),
  levels_c = c(lapply(d[, text_cols], levels), list(grade = levels(d$grade))),
  levels_utf8 = levels_utf8,
  as_character = list(x = doubles, text = as.character(doubles)),
  R = R.version.string, MatchIt = as.character(packageVersion("MatchIt")))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out)
