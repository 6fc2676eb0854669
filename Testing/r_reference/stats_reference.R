# R reference outputs for VBQCohortLib.stats and VBQCohortLib.logistic (issue 3).
#
# Usage:  Rscript Testing/r_reference/stats_reference.R [OUTDIR]
#   OUTDIR defaults to the folder of this script. Writes
#     stats_data_*.csv        seeded data sets generated here (small; values rounded so the CSV text is exact)
#     stats_shapiro.json, stats_wilcox.json, stats_kruskal.json, stats_friedman.json, stats_dunn.json,
#     stats_padjust.json, stats_glm.json
# Base R only (stats + jsonlite for writing). R 4.2.2. Dunn's test has no base-R function: it is computed below
# by its formula (as dunn.test / FSA::dunnTest do), with two-sided p and p.adjust.

suppressPackageStartupMessages(library(jsonlite))

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
num <- function(v) unname(as.numeric(v))

# ------------------------------------------------------------------------------------------------ seeded data
set.seed(20240701)
# two VBQ-like groups of matched size (values to 2 decimals -> ties -> normal approximation)
opll <- round(rnorm(135, 2.70, 0.45), 2)
csm  <- round(rnorm(135, 2.85, 0.45), 2)
# a small exact case: distinct values (3 decimals, ties removed by construction)
small_x <- round(sort(unique(round(runif(40, 1.5, 4), 3)))[c(seq(1, 39, by = 3))], 3)   # 13 values
small_y <- round(sort(unique(round(runif(40, 2.0, 4.5), 3)))[c(seq(2, 40, by = 3))], 3) # 13 values
small_y <- setdiff(small_y, small_x)
# paired data: 40 pairs with ties and zero differences (normal approx), 20 pairs distinct (exact)
pa <- round(rnorm(40, 2.8, 0.4), 1)
pb <- round(pa + round(rnorm(40, -0.1, 0.2), 1), 1)
pb[c(3, 17)] <- pa[c(3, 17)]                              # zero differences
qa <- round(rnorm(20, 3, 0.5), 3)
qb <- round(qa - rnorm(20, 0.15, 0.3), 3)
# small-range sample (< 1) for Shapiro-Wilk scaling, skewed sample, a large sample
sw_small <- round(rnorm(25, 0.5, 0.01), 5)
sw_skew <- round(rexp(60, 2), 4)
sw_large <- round(rnorm(1000, 2.7, 0.5), 3)
# six levels C2..C7 for 50 subjects, with a subject effect and two missing values
subj <- rnorm(50, 0, 0.3)
lev_means <- c(C2 = 3.0, C3 = 2.8, C4 = 2.8, C5 = 2.75, C6 = 2.55, C7 = 2.5)
levels_mat <- sapply(lev_means, function(m) round(m + subj + rnorm(50, 0, 0.25), 2))
levels_mat[7, "C4"] <- NA
levels_mat[31, "C7"] <- NA

write.csv(data.frame(group = c(rep("OPLL", length(opll)), rep("CSM", length(csm))), vbq = c(opll, csm)),
          file.path(outdir, "stats_data_groups.csv"), row.names = FALSE)
write.csv(data.frame(x = small_x, y = c(small_y, rep(NA, length(small_x) - length(small_y)))),
          file.path(outdir, "stats_data_small.csv"), row.names = FALSE, na = "")
write.csv(data.frame(a = pa, b = pb), file.path(outdir, "stats_data_paired.csv"), row.names = FALSE)
write.csv(data.frame(a = qa, b = qb), file.path(outdir, "stats_data_paired_exact.csv"), row.names = FALSE)
write.csv(data.frame(v = sw_small), file.path(outdir, "stats_data_sw_small.csv"), row.names = FALSE)
write.csv(data.frame(v = sw_skew), file.path(outdir, "stats_data_sw_skew.csv"), row.names = FALSE)
write.csv(data.frame(v = sw_large), file.path(outdir, "stats_data_sw_large.csv"), row.names = FALSE)
write.csv(airquality[, c("Ozone", "Month")], file.path(outdir, "stats_data_airquality.csv"), row.names = FALSE, na = "")
write.csv(data.frame(subject = 1:50, levels_mat), file.path(outdir, "stats_data_levels.csv"), row.names = FALSE,
          na = "")

# ------------------------------------------------------------------------------------------------ Shapiro-Wilk
sw <- function(x) { r <- shapiro.test(x); list(W = num(r$statistic), p = r$p.value, n = length(x[!is.na(x)])) }
wj(list(
  opll = sw(opll), csm = sw(csm), small_x = sw(small_x), sw_small = sw(sw_small), sw_skew = sw(sw_skew),
  sw_large = sw(sw_large), three = sw(c(2.1, 2.5, 3.9)), airquality_ozone = sw(airquality$Ozone)
), "stats_shapiro.json")

# ------------------------------------------------------------------------------------------------ Wilcoxon
wt <- function(x, y, ...) {
  r <- suppressWarnings(wilcox.test(x, y, conf.int = TRUE, ...))
  list(statistic = num(r$statistic), p = r$p.value, method = r$method, estimate = num(r$estimate),
       ci_low = r$conf.int[1], ci_high = r$conf.int[2], conf_level = attr(r$conf.int, "conf.level"))
}
# ?wilcox.test examples (depression scores; permeability constants)
dx <- c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30)
dy <- c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29)
px <- c(0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46)
py <- c(1.15, 0.88, 0.90, 0.74, 1.21)
oz5 <- airquality$Ozone[airquality$Month == 5]
oz8 <- airquality$Ozone[airquality$Month == 8]
wj(list(
  help_depression_paired_greater = wt(dx, dy, paired = TRUE, alternative = "greater"),
  help_depression_paired = wt(dx, dy, paired = TRUE),
  help_permeability_greater = wt(px, py, alternative = "greater"),
  help_permeability = wt(px, py),
  airquality_5_8 = wt(oz5, oz8),
  groups_normal = wt(opll, csm),
  groups_normal_nocorrect = wt(opll, csm, correct = FALSE),
  groups_normal_less = wt(opll, csm, alternative = "less"),
  groups_normal_90 = wt(opll, csm, conf.level = 0.90),
  small_exact = wt(small_x, small_y),
  small_forced_normal = wt(small_x, small_y, exact = FALSE),
  small_exact_greater = wt(small_x, small_y, alternative = "greater"),
  paired_ties_zeros = wt(pa, pb, paired = TRUE),
  paired_ties_greater = wt(pa, pb, paired = TRUE, alternative = "greater"),
  paired_ties_less = wt(pa, pb, paired = TRUE, alternative = "less"),
  groups_normal_greater = wt(opll, csm, alternative = "greater"),
  paired_exact = wt(qa, qb, paired = TRUE),
  paired_exact_less = wt(qa, qb, paired = TRUE, alternative = "less"),
  paired_forced_normal = wt(qa, qb, paired = TRUE, exact = FALSE),
  tiny_ranksum = wt(c(1, 2, 3), c(4, 5)),                                  # conf.level not achievable
  tiny_paired = wt(c(1.5, 2.5, -0.5, 4), c(0, 0, 0, 0), paired = TRUE),    # conf.level not achievable
  tiny_paired_ties = wt(c(1, 2, 2, -1, 3), c(0, 0, 0, 0, 0), paired = TRUE)
), "stats_wilcox.json")

# ------------------------------------------------------------------------------------------------ Kruskal-Wallis
kw <- function(values, groups) {
  r <- kruskal.test(values, factor(groups))
  list(H = num(r$statistic), df = num(r$parameter), p = r$p.value)
}
lv <- data.frame(value = as.vector(levels_mat), level = rep(colnames(levels_mat), each = nrow(levels_mat)))
wj(list(
  airquality = kw(airquality$Ozone, airquality$Month),
  levels = kw(lv$value, lv$level),
  groups = kw(c(opll, csm), rep(c("OPLL", "CSM"), c(length(opll), length(csm))))
), "stats_kruskal.json")

# ------------------------------------------------------------------------------------------------ Friedman
# ?friedman.test: Hollander & Wolfe (1973), p. 140ff: rounding first base, 22 players x 3 methods
RoundingTimes <- matrix(c(5.40, 5.50, 5.55, 5.85, 5.70, 5.75, 5.20, 5.60, 5.50, 5.55, 5.50, 5.40,
                          5.90, 5.85, 5.70, 5.45, 5.55, 5.60, 5.40, 5.40, 5.35, 5.45, 5.50, 5.35,
                          5.25, 5.15, 5.00, 5.85, 5.80, 5.70, 5.25, 5.20, 5.10, 5.65, 5.55, 5.45,
                          5.60, 5.35, 5.45, 5.05, 5.00, 4.95, 5.50, 5.50, 5.40, 5.45, 5.55, 5.50,
                          5.55, 5.55, 5.35, 5.45, 5.50, 5.55, 5.50, 5.45, 5.25, 5.65, 5.60, 5.40,
                          5.70, 5.65, 5.55, 6.30, 6.30, 6.25),
                        nrow = 22, byrow = TRUE,
                        dimnames = list(1:22, c("Round Out", "Narrow Angle", "Wide Angle")))
fr <- function(m) {
  r <- friedman.test(m)
  list(chi2 = num(r$statistic), df = num(r$parameter), p = r$p.value, n = sum(complete.cases(m)))
}
write.csv(RoundingTimes, file.path(outdir, "stats_data_rounding_times.csv"), row.names = FALSE)
wj(list(rounding_times = fr(RoundingTimes), levels = fr(levels_mat), levels_two = fr(levels_mat[, c("C2", "C6")])),
   "stats_friedman.json")

# ------------------------------------------------------------------------------------------------ Dunn by formula
dunn_formula <- function(values, groups) {
  ok <- !is.na(values)
  values <- values[ok]; groups <- factor(groups[ok])
  N <- length(values)
  r <- rank(values)
  t <- table(r)
  s2 <- N * (N + 1) / 12 - sum(t^3 - t) / (12 * (N - 1))
  lv <- levels(groups)
  mr <- tapply(r, groups, mean)
  ni <- tapply(r, groups, length)
  out <- NULL
  for (i in 1:(length(lv) - 1)) for (j in (i + 1):length(lv)) {
    z <- (mr[[lv[i]]] - mr[[lv[j]]]) / sqrt(s2 * (1 / ni[[lv[i]]] + 1 / ni[[lv[j]]]))
    out <- rbind(out, data.frame(group1 = lv[i], group2 = lv[j], z = z, p = 2 * pnorm(-abs(z))))
  }
  res <- list(group1 = out$group1, group2 = out$group2, z = out$z, p = out$p)
  for (m in c("holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "none")) res[[paste0("p_", m)]] <- p.adjust(out$p, m)
  res
}
wj(list(airquality = dunn_formula(airquality$Ozone, airquality$Month),
        levels = dunn_formula(lv$value, lv$level)), "stats_dunn.json")

# ------------------------------------------------------------------------------------------------ p.adjust
pv <- list(
  mixed = c(0.01, 0.02, 0.03, 0.04, 0.05, 0.5, 0.001, 0.2, 0.0125, 0.9),
  ties = c(0.04, 0.04, 0.01, 0.2, 0.2, 0.03),
  with_na = c(0.02, NA, 0.001, 0.3, 0.04, NA, 0.011),
  hommel_case = c(0.011, 0.02, 0.029, 0.04, 0.048, 0.06, 0.3, 0.0001),
  random = round(runif(25)^3, 6)
)
pa_out <- lapply(pv, function(p) {
  r <- list(p = p)
  for (m in c("holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "none")) r[[m]] <- p.adjust(p, m)
  r
})
wj(pa_out, "stats_padjust.json")

# ------------------------------------------------------------------------------------------------ glm binomial
gl <- function(fit) {
  s <- summary(fit)$coefficients
  ci <- confint.default(fit)
  terms <- list()
  for (nm in rownames(s)) {
    terms[[nm]] <- list(coef = s[nm, 1], se = s[nm, 2], z = s[nm, 3], p = s[nm, 4],
                        coef_ci_low = ci[nm, 1], coef_ci_high = ci[nm, 2],
                        odds_ratio = exp(s[nm, 1]), ci_low = exp(ci[nm, 1]), ci_high = exp(ci[nm, 2]))
  }
  list(terms = terms, n = nobs(fit), aic = AIC(fit), deviance = deviance(fit), null_deviance = fit$null.deviance,
       loglik = as.numeric(logLik(fit)), converged = fit$converged, iter = fit$iter,
       mcfadden = 1 - deviance(fit) / fit$null.deviance)
}
fit_mtcars <- glm(am ~ hp + wt, data = mtcars, family = binomial)
write.csv(mtcars[, c("am", "hp", "wt", "mpg", "vs", "cyl")], file.path(outdir, "stats_data_mtcars.csv"),
          row.names = TRUE)
n <- 300
cov <- data.frame(
  age = round(rnorm(n, 60, 9)),
  bmi = round(rnorm(n, 26, 3.5), 1),
  hypertension = rbinom(n, 1, 0.4),
  smoking = sample(c("never", "former", "current"), n, replace = TRUE, prob = c(0.5, 0.3, 0.2))
)
lp <- -9 + 0.03 * cov$age + 0.22 * cov$bmi + 0.6 * cov$hypertension + 0.5 * (cov$smoking == "current")
cov$opll <- rbinom(n, 1, plogis(lp))
cov$bmi[c(5, 77)] <- NA                                    # rows dropped by glm (na.omit), counted
write.csv(cov, file.path(outdir, "stats_data_logistic.csv"), row.names = FALSE, na = "")
cov$smoking <- factor(cov$smoking, levels = c("never", "current", "former"))  # reference = never
fit_cov <- glm(opll ~ age + bmi + hypertension + smoking, data = cov, family = binomial)
# glm's default stopping rule (relative deviance change < 1e-8) leaves the estimates ~1e-5 from the maximum;
# the *_mle fits iterate to the maximum-likelihood estimate itself (what statsmodels converges to).
tight <- glm.control(epsilon = 1e-15, maxit = 100)
fit_mtcars_mle <- glm(am ~ hp + wt, data = mtcars, family = binomial, control = tight)
fit_cov_mle <- glm(opll ~ age + bmi + hypertension + smoking, data = cov, family = binomial, control = tight)
wj(list(mtcars = gl(fit_mtcars), cohort = gl(fit_cov), mtcars_mle = gl(fit_mtcars_mle), cohort_mle = gl(fit_cov_mle)),
   "stats_glm.json")
cat("wrote R reference outputs to", outdir, "\n")
