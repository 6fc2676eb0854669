# R reference outputs for VBQCohortLib.diagnostic (issue 18): pROC 1.18 + base R cor.test / binom.test.
#
# Usage:  Rscript Testing/r_reference/diagnostic_reference.R [OUTDIR]
#   OUTDIR defaults to the folder of this script. Writes
#     diagnostic_data_*.csv   pROC's aSAH data set and seeded data sets generated here (values rounded so that
#                             the CSV text is exact)
#     diagnostic_roc.json     per case: roc() (direction auto), curve, auc, ci.auc(delong), coords "best" youden
#                             (all ties) with binom.test CIs, coords at thresholds / sensitivity / specificity
#     diagnostic_roctest.json roc.test(method = "delong", paired = TRUE)
#     diagnostic_cor.json     cor.test pearson and spearman (exact = NULL: R's own rules)
# R 4.2, pROC 1.18.0, jsonlite.

suppressPackageStartupMessages({library(jsonlite); library(pROC)})

args <- commandArgs(trailingOnly = TRUE)
script_dir <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else "."
})
outdir <- if (length(args) >= 1) args[1] else script_dir
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

wj <- function(x, name) {
  write_json(x, file.path(outdir, name), auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
}
wcsv <- function(d, name) write.csv(d, file.path(outdir, name), row.names = FALSE, na = "")
num <- function(v) unname(as.numeric(v))
fin <- function(v) { v <- num(v); v[!is.finite(v)] <- NA; v }  # +-Inf thresholds -> null

# ------------------------------------------------------------------------------------------------ data
data(aSAH)
asah <- data.frame(outcome = as.character(aSAH$outcome), gender = as.character(aSAH$gender), age = aSAH$age,
                   wfns = as.integer(as.character(aSAH$wfns)), s100b = aSAH$s100b, ndka = aSAH$ndka)
wcsv(asah, "diagnostic_data_asah.csv")

set.seed(20261208)
# n = 10: ties in the marker, both classes
small <- data.frame(y = c(0, 0, 0, 0, 0, 1, 1, 1, 1, 1),
                    m = c(2.1, 2.4, 2.4, 3.0, 3.3, 2.4, 3.0, 3.6, 3.9, 4.2),
                    dxa = c(-0.5, -1.2, -0.8, -1.9, -1.1, -2.7, -2.0, -3.1, -2.2, -3.4))
wcsv(small, "diagnostic_data_small.csv")

# several Youden ties (symmetric design), direction ">" (cases lower), and missing values
ties <- data.frame(y = c(rep(0, 6), rep(1, 6)),
                   m = c(3, 4, 7, 8, 11, 12, 1, 2, 5, 6, 9, 10),  # three tied Youden thresholds
                   m2 = c(NA, 6, 7, 8, 3, 4, 1, NA, 3, 4, 7, 8))
wcsv(ties, "diagnostic_data_ties.csv")

# n = 5000: two correlated markers (VBQ-like, rounded to 2 decimals -> ties), DXA T-score, opposite direction
n <- 5000
t_score <- round(rnorm(n, -1.2, 1.1), 1)
osteo <- as.integer(t_score <= -2.5)
vbq <- round(3.0 - 0.25 * t_score + rnorm(n, 0, 0.45), 2)
vbq2 <- round(0.6 * vbq + rnorm(n, 0, 0.35), 2)
hu <- round(150 + 30 * t_score + rnorm(n, 0, 35))  # higher in controls: direction ">"
vbq[sample(n, 40)] <- NA
large <- data.frame(osteo = osteo, t_score = t_score, vbq = vbq, vbq2 = vbq2, hu = hu)
wcsv(large, "diagnostic_data_large.csv")

# correlations: small n without ties (exact permutations n <= 9; Edgeworth n = 25), ties, n = 1290 / 1291
# (R 4.2's cor.test: exact = NULL means TRUE; prho is used when n <= 1290 and there are no ties)
cor_small <- data.frame(x = c(1.3, 2.9, 0.4, 5.1, 3.3, 4.4, 2.2, 6.0), y = c(0.7, 2.5, 1.9, 3.8, 2.6, 4.9, 1.1, 3.0))
wcsv(cor_small, "diagnostic_data_cor_small.csv")
x25 <- round(rnorm(25), 4); y25 <- round(0.4 * x25 + rnorm(25), 4)
cor_25 <- data.frame(x = x25, y = y25)
wcsv(cor_25, "diagnostic_data_cor_25.csv")
x1290 <- round(rnorm(1291), 6); y1290 <- round(0.05 * x1290 + rnorm(1291), 6)
cor_1290 <- data.frame(x = x1290, y = y1290)
wcsv(cor_1290, "diagnostic_data_cor_1290.csv")

# read back what was written, so R computes on the very numbers the tests read
rd <- function(name) read.csv(file.path(outdir, name), stringsAsFactors = FALSE)
asah <- rd("diagnostic_data_asah.csv"); small <- rd("diagnostic_data_small.csv"); ties <- rd("diagnostic_data_ties.csv")
large <- rd("diagnostic_data_large.csv"); cor_small <- rd("diagnostic_data_cor_small.csv")
cor_25 <- rd("diagnostic_data_cor_25.csv"); cor_1290 <- rd("diagnostic_data_cor_1290.csv")

# ------------------------------------------------------------------------------------------------ ROC
roc_case <- function(response, predictor, thresholds = numeric(0), at_se = numeric(0), at_sp = numeric(0)) {
  r <- roc(response, predictor, direction = "auto", quiet = TRUE, levels = c(0, 1))
  ci <- ci.auc(r, method = "delong")
  best <- coords(r, "best", best.method = "youden", ret = c("threshold", "sensitivity", "specificity"),
                 transpose = FALSE)
  nca <- length(r$cases); nco <- length(r$controls)
  youden <- lapply(seq_len(nrow(best)), function(i) {
    se <- best$sensitivity[i]; sp <- best$specificity[i]
    tp <- round(se * nca); tn <- round(sp * nco)
    bse <- binom.test(tp, nca)$conf.int; bsp <- binom.test(tn, nco)$conf.int
    list(threshold = fin(best$threshold[i]), sensitivity = se, specificity = sp,
         sensitivity_ci_low = num(bse[1]), sensitivity_ci_high = num(bse[2]),
         specificity_ci_low = num(bsp[1]), specificity_ci_high = num(bsp[2]), tp = tp, tn = tn,
         fp = nco - tn, fn = nca - tp)
  })
  at <- function(x, input) {
    if (!length(x)) return(list())
    cc <- coords(r, x, input = input, ret = c("threshold", "sensitivity", "specificity"), transpose = FALSE)
    lapply(seq_len(nrow(cc)), function(i) list(value = x[i], threshold = fin(cc$threshold[i]),
                                               sensitivity = num(cc$sensitivity[i]),
                                               specificity = num(cc$specificity[i])))
  }
  list(direction = r$direction, n_cases = nca, n_controls = nco, auc = num(r$auc),
       ci_low = num(ci[1]), ci_high = num(ci[3]),
       thresholds = fin(r$thresholds), sensitivities = num(r$sensitivities), specificities = num(r$specificities),
       youden = youden, at_threshold = at(thresholds, "threshold"), at_sensitivity = at(at_se, "sensitivity"),
       at_specificity = at(at_sp, "specificity"))
}
asah_y <- as.integer(asah$outcome == "Poor")
rocs <- list(
  asah_s100b = roc_case(asah_y, asah$s100b, c(0.205, 0.3, 0.1), c(0.9, 0.6341463414634146), c(0.9)),
  asah_wfns = roc_case(asah_y, asah$wfns, c(2.5, 4), c(0.9), c(0.5)),
  asah_ndka = roc_case(asah_y, asah$ndka, c(10, 20)),
  small = roc_case(small$y, small$m, c(2.4, 3.0, 3.45), c(0.8, 0.9), c(0.5, 0.7)),
  ties = roc_case(ties$y, ties$m, c(4.5, 7)),
  ties_missing = roc_case(ties$y, ties$m2),
  large_vbq = roc_case(large$osteo, large$vbq, c(3.0, 3.5), c(0.9), c(0.9)),
  large_hu = roc_case(large$osteo, large$hu, c(100), c(0.8), c(0.8))
)
wj(rocs, "diagnostic_roc.json")

# ------------------------------------------------------------------------------------------------ roc.test
rt <- function(response, a, b) {
  ok <- !is.na(a) & !is.na(b) & !is.na(response)
  r1 <- roc(response[ok], a[ok], direction = "auto", quiet = TRUE, levels = c(0, 1))
  r2 <- roc(response[ok], b[ok], direction = "auto", quiet = TRUE, levels = c(0, 1))
  t <- suppressWarnings(roc.test(r1, r2, method = "delong", paired = TRUE))
  list(z = num(t$statistic), p = num(t$p.value), auc_a = num(t$estimate[1]), auc_b = num(t$estimate[2]),
       n = sum(ok), direction_a = r1$direction, direction_b = r2$direction)
}
tests <- list(
  asah_s100b_wfns = rt(asah_y, asah$s100b, asah$wfns),
  asah_s100b_ndka = rt(asah_y, asah$s100b, asah$ndka),
  large_vbq_vbq2 = rt(large$osteo, large$vbq, large$vbq2),
  large_vbq_hu = rt(large$osteo, large$vbq, large$hu),
  small_m_dxa = rt(small$y, small$m, small$dxa)
)
wj(tests, "diagnostic_roctest.json")

# ------------------------------------------------------------------------------------------------ cor.test
ct <- function(x, y) {
  ok <- !is.na(x) & !is.na(y)
  p <- cor.test(x, y)
  s <- suppressWarnings(cor.test(x, y, method = "spearman"))
  list(pearson = list(r = num(p$estimate), ci_low = num(p$conf.int[1]), ci_high = num(p$conf.int[2]),
                      t = num(p$statistic), df = num(p$parameter), p = num(p$p.value), n = sum(ok)),
       spearman = list(rho = num(s$estimate), S = num(s$statistic), p = num(s$p.value), n = sum(ok)))
}
cors <- list(
  small_exact = ct(cor_small$x, cor_small$y),
  n25_edgeworth = ct(cor_25$x, cor_25$y),
  ties_small = ct(small$m, small$dxa),
  large_ties = ct(large$vbq, large$t_score),
  n1291 = ct(cor_1290$x, cor_1290$y),
  n1290 = ct(cor_1290$x[1:1290], cor_1290$y[1:1290]),
  asah_s100b_age = ct(asah$s100b, asah$age)
)
wj(cors, "diagnostic_cor.json")

# ------------------------------------------------------------------------------------------------ model
# glm(condition ~ marker + covariates): OR per unit and per SD (glm on the marker scaled by its SD), and the AUC of
# the linear predictor (direction "<") with its DeLong CI
asah$poor <- as.integer(asah$outcome == "Poor")
fit <- glm(poor ~ s100b + age + gender, family = binomial, data = asah)
fit_sd <- glm(poor ~ I(s100b / sd(s100b)) + age + gender, family = binomial, data = asah)
ci_u <- exp(confint.default(fit)["s100b", ]); ci_s <- exp(confint.default(fit_sd)[2, ])
mroc <- roc(asah$poor, predict(fit), direction = "<", quiet = TRUE, levels = c(0, 1))
mci <- ci.auc(mroc, method = "delong")
wj(list(asah_s100b_age_gender = list(
  or_per_unit = list(odds_ratio = num(exp(coef(fit)["s100b"])), ci_low = num(ci_u[1]), ci_high = num(ci_u[2]),
                     p = num(summary(fit)$coefficients["s100b", 4])),
  or_per_sd = list(odds_ratio = num(exp(coef(fit_sd)[2])), ci_low = num(ci_s[1]), ci_high = num(ci_s[2]),
                   sd = sd(asah$s100b)),
  auc = num(mroc$auc), ci_low = num(mci[1]), ci_high = num(mci[3]), n = nobs(fit))), "diagnostic_model.json")
