# R reference outputs for VBQCohortLib.publication.table1 and .contingency (issue 17: Table 1).
#
# Usage:  Rscript Testing/r_reference/table1_reference.R [OUTDIR]
#   OUTDIR defaults to the folder of this script. Writes
#     table1_data_small.csv, table1_data_large.csv   seeded data (values rounded so the CSV text is exact)
#     table1_reference.json                          per data set and variable: R's statistics by group
#     table1_fisher.json                             fisher.test / chisq.test on fixed k x 2 tables
# Base R only (stats + jsonlite). Per continuous variable: shapiro.test per group, mean, sd, quantile(type = 7),
# t.test (Welch, defaults), wilcox.test (defaults); per categorical variable: the level x group table,
# expected counts, chisq.test(correct = FALSE), fisher.test; the SMD by its formula (MatchIt convention, before
# matching: treated SD; sqrt(p(1-p)) for levels); weighted means/SDs/percentages by cobalt's formulas.

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
make <- function(n, p_treat, seed) {
  set.seed(seed)
  g <- rbinom(n, 1, p_treat)
  age <- round(rnorm(n, 60 + 2 * g, 8), 1)                      # normal
  bmi <- round(exp(rnorm(n, 3.2 + 0.05 * g, 0.25)), 2)          # skewed (log-normal)
  crp <- round(rexp(n, 1 / (3 + g)), 0)                         # skewed with many ties
  sex <- rbinom(n, 1, 0.45 + 0.1 * g)                           # 0/1
  smoking <- sample(c("never", "former", "current"), n, TRUE, prob = c(0.5, 0.3, 0.2))   # three levels
  rare <- sample(c("none", "mild", "severe"), n, TRUE, prob = c(0.85, 0.12, 0.03))      # rare level: Fisher
  steroid <- sample(c("no", "yes"), n, TRUE, prob = c(0.93, 0.07))                      # rare yes: Fisher 2 x 2
  vbq_c2 <- round(rnorm(n, 3.0 - 0.1 * g, 0.4), 3)
  vbq_c3 <- round(rnorm(n, 2.9 - 0.15 * g, 0.4), 3)
  d <- data.frame(id = seq_len(n), group = g, age, bmi, crp, sex, smoking, rare, steroid, VBQ_C2 = vbq_c2,
                  VBQ_C3 = vbq_c3, stringsAsFactors = FALSE)
  d$VBQ_overall <- round((d$VBQ_C2 + d$VBQ_C3) / 2, 4)
  d$bmi[c(2, 9)] <- NA                                           # missing values
  d$smoking[5] <- NA
  # matching weights as after 1:2 matching with replacement (0 = unmatched); treated keep 1
  w <- ifelse(g == 1, 1, sample(c(0, 0.5, 1, 1.5, 2), n, TRUE))
  d$w <- w
  d
}
small <- make(60, 0.4, 20261208)
large <- make(400, 0.5, 17)
write.csv(small, file.path(outdir, "table1_data_small.csv"), row.names = FALSE, na = "")
write.csv(large, file.path(outdir, "table1_data_large.csv"), row.names = FALSE, na = "")

continuous <- c("age", "bmi", "crp", "VBQ_C2", "VBQ_C3", "VBQ_overall")
categorical <- c("sex", "smoking", "rare", "steroid")

cont_ref <- function(d, v) {
  x1 <- d[[v]][d$group == 1 & !is.na(d[[v]])]
  x0 <- d[[v]][d$group == 0 & !is.na(d[[v]])]
  s1 <- shapiro.test(x1); s0 <- shapiro.test(x0)
  tt <- t.test(x1, x0)
  wt <- suppressWarnings(wilcox.test(x1, x0))
  q1 <- quantile(x1, c(0.25, 0.5, 0.75), type = 7); q0 <- quantile(x0, c(0.25, 0.5, 0.75), type = 7)
  # weighted (cobalt col_w_mean / col_w_sd: normalised weights, sum(w (x - m)^2) / (1 - sum(w^2)))
  wts <- function(x, w) { w <- w / sum(w); m <- sum(w * x); list(mean = m, sd = sqrt(sum(w * (x - m)^2) / (1 - sum(w^2)))) }
  ok <- !is.na(d[[v]]) & d$w > 0
  w1 <- wts(d[[v]][ok & d$group == 1], d$w[ok & d$group == 1])
  w0 <- wts(d[[v]][ok & d$group == 0], d$w[ok & d$group == 0])
  list(n = c(length(x1), length(x0)), missing = c(sum(is.na(d[[v]][d$group == 1])), sum(is.na(d[[v]][d$group == 0]))),
       shapiro_W = num(c(s1$statistic, s0$statistic)), shapiro_p = c(s1$p.value, s0$p.value),
       mean = c(mean(x1), mean(x0)), sd = c(sd(x1), sd(x0)),
       q_treated = num(q1), q_control = num(q0),
       t = num(tt$statistic), t_df = num(tt$parameter), t_p = tt$p.value,
       wilcox_W = num(wt$statistic), wilcox_p = wt$p.value, wilcox_method = wt$method,
       smd = (mean(x1) - mean(x0)) / sd(x1),
       weighted_mean = c(w1$mean, w0$mean), weighted_sd = c(w1$sd, w0$sd),
       weighted_n = c(sum(ok & d$group == 1), sum(ok & d$group == 0)))
}

# SMD of each level's 0/1 indicator: (p1 - p0) / sqrt(p1 (1 - p1)); when that SD is 0, MatchIt's pooled_sd
# (contribution = "proportional") for binary variables: sqrt(sum_g s_g (1 - s_g / n_g) / n)
smd_levels <- function(tab) {
  n1 <- sum(tab[, 1]); n0 <- sum(tab[, 2]); n <- n1 + n0
  sapply(seq_len(nrow(tab)), function(i) {
    s1 <- tab[i, 1]; s0 <- tab[i, 2]; p1 <- s1 / n1; p0 <- s0 / n0
    sdv <- sqrt(p1 * (1 - p1))
    if (sdv < sqrt(.Machine$double.eps)) sdv <- sqrt((s1 * (1 - s1 / n1) + s0 * (1 - s0 / n0)) / n)
    num((p1 - p0) / sdv)
  })
}

cat_ref <- function(d, v) {
  x <- d[[v]]
  lev <- sort(unique(x[!is.na(x)]))
  f <- factor(x, levels = lev)
  tab <- table(f, d$group)[, c("1", "0"), drop = FALSE]
  e <- suppressWarnings(chisq.test(tab, correct = FALSE))
  fi <- fisher.test(tab)
  p1 <- num(tab[, 1]) / sum(tab[, 1]); p0 <- num(tab[, 2]) / sum(tab[, 2])
  ok <- !is.na(x) & d$w > 0
  wp <- function(g) sapply(lev, function(l) sum(d$w[ok & d$group == g & x == l]) / sum(d$w[ok & d$group == g]))
  list(levels = as.character(lev), treated = num(tab[, 1]), control = num(tab[, 2]),
       missing = c(sum(is.na(x[d$group == 1])), sum(is.na(x[d$group == 0]))),
       min_expected = min(e$expected), chisq = num(e$statistic), chisq_df = num(e$parameter),
       chisq_p = e$p.value, fisher_p = fi$p.value,
       smd = smd_levels(tab),
       weighted_percent_treated = 100 * num(wp(1)), weighted_percent_control = 100 * num(wp(0)))
}

ref <- list()
for (nm in c("small", "large")) {
  d <- get(nm)
  ref[[nm]] <- list(continuous = setNames(lapply(continuous, function(v) cont_ref(d, v)), continuous),
                    categorical = setNames(lapply(categorical, function(v) cat_ref(d, v)), categorical))
}
wj(ref, "table1_reference.json")

# fixed tables: 2 x 2, 3 x 2, 4 x 2 with rare cells, a larger sparse 5 x 2
tabs <- list(
  t2x2 = matrix(c(3, 1, 1, 3), ncol = 2, byrow = TRUE),
  t2x2_zero = matrix(c(0, 5, 5, 0), ncol = 2, byrow = TRUE),
  t3x2 = matrix(c(1, 4, 2, 0, 3, 2), ncol = 2, byrow = TRUE),
  t3x2_b = matrix(c(10, 4, 12, 20, 3, 2), ncol = 2, byrow = TRUE),
  t4x2 = matrix(c(20, 25, 1, 6, 3, 0, 40, 38), ncol = 2, byrow = TRUE),
  t5x2 = matrix(c(60, 70, 3, 0, 1, 4, 0, 2, 12, 9), ncol = 2, byrow = TRUE),
  t6x2_big = matrix(c(150, 170, 2, 9, 30, 22, 1, 0, 5, 1, 12, 20), ncol = 2, byrow = TRUE),
  # more than 5000 subjects (VBQCohortLib's closed-form path for the two largest levels)
  t3x2_large = matrix(c(6000, 6100, 3, 0, 1, 4), ncol = 2, byrow = TRUE),
  t4x2_large = matrix(c(4000, 3000, 2500, 2600, 2, 7, 0, 3), ncol = 2, byrow = TRUE)
)
fx <- lapply(tabs, function(m) {
  e <- suppressWarnings(chisq.test(m, correct = FALSE))
  list(table = lapply(seq_len(nrow(m)), function(i) num(m[i, ])), fisher_p = fisher.test(m)$p.value,
       chisq = num(e$statistic), chisq_df = num(e$parameter), chisq_p = e$p.value)
})
wj(fx, "table1_fisher.json")
