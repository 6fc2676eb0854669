# Reference for Testing/test_analysis_r.py: the lu2024 analysis of analysis_cohort.csv (a 160-patient synthetic
# cohort from VBQCohortLib.demo.make_cohort(160, 5)) done with R MatchIt 4.5 + base R, written to
# analysis_reference.json. Run from this folder:  Rscript analysis_reference.R [out.json]
suppressPackageStartupMessages({library(MatchIt); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "analysis_reference.json"

# The text columns stay text, so that R names the terms (sexM, hypertensionyes, dietvegetarian: treatment
# coding, first level in sorted order as reference). Levels sorted in the C locale, as VBQCohortLib.terms does
# (these levels sort the same way in every locale).
invisible(Sys.setlocale("LC_COLLATE", "C"))
d <- read.csv("analysis_cohort.csv", na.strings = c("", "NA"), stringsAsFactors = FALSE)
text_cols <- c("sex", "hypertension", "diabetes", "calcium_supplement", "glucocorticoid", "diet", "smoking", "alcohol")
for (v in text_cols) d[[v]] <- factor(d[[v]])
d$treated <- as.integer(d$diagnosis == "OPLL")
covs <- c("age", "sex", "bmi", "hypertension", "diabetes", "calcium_supplement", "glucocorticoid", "diet",
          "smoking", "alcohol")
levs <- paste0("VBQ_C", 2:7)
d <- d[complete.cases(d[, covs]), ]                        # rows with a missing covariate are excluded
rownames(d) <- d$patient_id

f <- as.formula(paste("treated ~", paste(covs, collapse = " + ")))
m <- matchit(f, data = d, method = "nearest", distance = "glm", link = "linear.logit", caliper = 0.2,
             std.caliper = TRUE, m.order = "largest", replace = FALSE, ratio = 1)
mm <- m$match.matrix
mm <- mm[!is.na(mm[, 1]), , drop = FALSE]
pairs <- setNames(as.list(mm[, 1]), rownames(mm))
md <- d[c(rownames(mm), mm[, 1]), ]
tr <- md[md$treated == 1, ]
co <- md[md$treated == 0, ]

levels_out <- list()
for (l in levs) {
  w <- wilcox.test(tr[[l]], co[[l]])
  x <- d[rownames(mm), l]; y <- d[mm[, 1], l]
  v <- wilcox.test(x, y, paired = TRUE)
  levels_out[[l]] <- list(W = unname(w$statistic), p = w$p.value, method = w$method,
                          V = unname(v$statistic), p_signed = v$p.value, method_signed = v$method,
                          shapiro_treated = unname(shapiro.test(tr[[l]])$statistic),
                          shapiro_treated_p = shapiro.test(tr[[l]])$p.value,
                          shapiro_control = unname(shapiro.test(co[[l]])$statistic),
                          shapiro_control_p = shapiro.test(co[[l]])$p.value)
}
p_rs <- sapply(levels_out, function(e) e$p)
p_sr <- sapply(levels_out, function(e) e$p_signed)
holm_rs <- p.adjust(p_rs, "holm"); holm_sr <- p.adjust(p_sr, "holm")
for (l in levs) { levels_out[[l]]$p_holm <- unname(holm_rs[l]); levels_out[[l]]$p_signed_holm <- unname(holm_sr[l]) }

seg <- list()
for (g in c("OPLL", "CSM")) {
  s <- if (g == "OPLL") tr else co
  k <- kruskal.test(lapply(levs, function(l) s[[l]]))
  fr <- friedman.test(as.matrix(s[, levs]))
  seg[[g]] <- list(H = unname(k$statistic), kruskal_p = k$p.value, chi2 = unname(fr$statistic), friedman_p = fr$p.value)
}

preds <- c("bmi", "hypertension", "calcium_supplement", "smoking")
fit <- glm(as.formula(paste("treated ~", paste(preds, collapse = " + "))), data = d, family = binomial)
co_tab <- summary(fit)$coefficients
ci <- exp(confint.default(fit))
terms <- list()
for (t in rownames(co_tab)) terms[[t]] <- list(coef = co_tab[t, 1], se = co_tab[t, 2], p = co_tab[t, 4],
                                                odds_ratio = exp(co_tab[t, 1]), ci_low = ci[t, 1], ci_high = ci[t, 2])

refs <- lapply(d[, text_cols], function(x) levels(x)[1])
res <- list(n_included = nrow(d), n_matched = list(treated = nrow(mm), control = nrow(mm)), pairs = pairs,
            levels = levels_out, segmental = seg, logistic = list(terms = terms, n = nobs(fit)),
            propensity_coef = as.list(m$model$coefficients), reference_levels = refs,
            R = R.version.string, MatchIt = as.character(packageVersion("MatchIt")))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), out)
