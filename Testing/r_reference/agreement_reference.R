# R reference outputs for VBQCohortLib.agreement_stats / VBQCohortLib.agreement (issue 10: reader agreement).
#
# Usage:  Rscript Testing/r_reference/agreement_reference.R [OUTDIR]
#   OUTDIR defaults to the folder of this script. Writes
#     agreement_data_two.csv     40 cases x 2 readers x C2-C7, one session, no session column, 3 missing values
#     agreement_data_five.csv    60 cases x 5 readers x C2-C7, one session, rows left out + missing values
#                                (an unbalanced design: cases read by different subsets of readers)
#     agreement_data_retest.csv  30 cases x 2 readers x 2 sessions, overall VBQ only (no level column); the
#                                re-read covers 20 (R1) and 24 (R2) cases; R2's re-read has the same mean as its
#                                first read (a singular lme4 fit: where psych's default lmer = TRUE drifts)
#     agreement_data_sf1979.csv  Shrout & Fleiss (1979) Table 2: 6 targets x 4 judges
#     agreement_psych.json       psych::ICC(x, lmer = FALSE) on complete cases, per analysis (the six rows,
#                                n.obs, n.judge), and the Bland-Altman numbers by base R (t.test, sd, qt, lm)
#     agreement_irr.json         irr::icc (McGraw & Wong forms), only when irr is installed or IRR_ICC_R names a
#                                copy of irr's R/icc.R (Debian has no r-cran-irr; the committed file was made with
#                                irr 0.84.1's icc.R)
# psych 2.2.9, jsonlite, R 4.2.2 (Debian). The long tables have the columns of `vbq agreement`:
# case_id, reader, [session], [level], vbq.

suppressPackageStartupMessages({
  library(jsonlite)
  library(psych)
})

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
levels6 <- paste0("C", 2:7)

# ------------------------------------------------------------------------------------------------ seeded data
set.seed(20241010)
make_long <- function(n, readers, bias, noise, sessions = 1, levels = levels6) {
  truth <- rnorm(n, 2.8, 0.35)
  lev_off <- c(C2 = 0.30, C3 = 0.05, C4 = 0, C5 = -0.02, C6 = -0.35, C7 = -0.45)
  rows <- list()
  for (s in sessions) for (r in seq_along(readers)) for (lv in levels) {
    v <- truth + lev_off[[lv]] + rnorm(n, 0, 0.12) + bias[r] + rnorm(n, 0, noise)
    rows[[length(rows) + 1]] <- data.frame(case_id = sprintf("P%02d", 1:n), reader = readers[r], session = s,
                                           level = lv, vbq = round(v, 3))
  }
  do.call(rbind, rows)
}
two <- make_long(40, c("R1", "R2"), bias = c(0, 0.08), noise = 0.10)
two$vbq[c(5, 130, 301)] <- NA          # missing measurements (empty cells)
two$session <- NULL
five <- make_long(60, paste0("R", 1:5), bias = c(0, 0.05, -0.04, 0.10, 0), noise = 0.12)
drop <- sort(sample(nrow(five), 90))   # rows left out: not every reader read every case and level
five <- five[-drop, ]
five$vbq[sample(nrow(five), 25)] <- NA
rownames(five) <- NULL

n_rt <- 30
truth_rt <- rnorm(n_rt, 2.9, 0.4)
rt_rows <- list()
r1s1 <- truth_rt + rnorm(n_rt, 0, 0.10)
r1s2 <- truth_rt + 0.03 + rnorm(n_rt, 0, 0.10)
r2s1 <- truth_rt + 0.07 + rnorm(n_rt, 0, 0.12)
e <- rnorm(24, 0, 0.05)
r2s2 <- r2s1[1:24] + (e - mean(e))      # same mean as R2's first read on these cases
rt <- rbind(
  data.frame(case_id = sprintf("C%03d", 1:n_rt), reader = "R1", session = 1, vbq = round(r1s1, 3)),
  data.frame(case_id = sprintf("C%03d", 1:20), reader = "R1", session = 2, vbq = round(r1s2[1:20], 3)),
  data.frame(case_id = sprintf("C%03d", 1:n_rt), reader = "R2", session = 1, vbq = round(r2s1, 3)),
  data.frame(case_id = sprintf("C%03d", 1:24), reader = "R2", session = 2, vbq = round(r2s2, 3)))
sf <- data.frame(case_id = rep(1:6, 4), reader = rep(paste0("J", 1:4), each = 6),
                 vbq = c(9, 6, 8, 7, 10, 6, 2, 1, 4, 1, 5, 2, 5, 3, 6, 2, 6, 4, 8, 2, 8, 6, 9, 7))

wcsv <- function(d, name) write.csv(d, file.path(outdir, name), row.names = FALSE, na = "")
wcsv(two, "agreement_data_two.csv")
wcsv(five, "agreement_data_five.csv")
wcsv(rt, "agreement_data_retest.csv")
wcsv(sf, "agreement_data_sf1979.csv")

# ------------------------------------------------------------------------------------------------ analyses
# wide matrix cases x columns ("by") of one slice of a long table; missing rows and NA values both become NA
wide <- function(d, by) {
  cases <- unique(d$case_id)
  cols <- unique(d[[by]])
  m <- matrix(NA_real_, length(cases), length(cols), dimnames = list(cases, cols))
  m[cbind(match(d$case_id, cases), match(d[[by]], cols))] <- d$vbq
  m
}
overall <- function(d) {   # lu2024: mean of the levels present (C2-C7) per case, reader, session
  key <- intersect(c("case_id", "reader", "session"), names(d))
  d <- d[!is.na(d$vbq), ]
  aggregate(d["vbq"], d[key], mean)
}
icc_rows <- function(m) {
  x <- na.omit(as.data.frame(m))
  r <- psych::ICC(x, lmer = FALSE)
  res <- r$results
  list(n_obs = r$n.obs, n_judge = r$n.judge, n_excluded = nrow(m) - nrow(x),
       rows = lapply(seq_len(nrow(res)), function(i) list(
         type = res$type[i], icc = res$ICC[i], F = res$F[i], df1 = res$df1[i], df2 = res$df2[i], p = res$p[i],
         lower = res[["lower bound"]][i], upper = res[["upper bound"]][i])))
}
ba <- function(a, b) {
  ok <- !is.na(a) & !is.na(b)
  d <- a[ok] - b[ok]
  mm <- (a[ok] + b[ok]) / 2
  n <- length(d)
  s <- sd(d)
  tq <- qt(0.975, n - 1)
  ci <- t.test(d)$conf.int
  se_loa <- sqrt(3 * s^2 / n)
  fit <- lm(d ~ mm)
  co <- summary(fit)$coefficients
  list(n = n, bias = mean(d), bias_ci_low = ci[1], bias_ci_high = ci[2], sd = s,
       loa_low = mean(d) - 1.96 * s, loa_high = mean(d) + 1.96 * s,
       loa_low_ci_low = mean(d) - 1.96 * s - tq * se_loa, loa_low_ci_high = mean(d) - 1.96 * s + tq * se_loa,
       loa_high_ci_low = mean(d) + 1.96 * s - tq * se_loa, loa_high_ci_high = mean(d) + 1.96 * s + tq * se_loa,
       prop_bias_slope = co["mm", "Estimate"], prop_bias_intercept = co["(Intercept)", "Estimate"],
       prop_bias_slope_ci_low = confint(fit)["mm", 1], prop_bias_slope_ci_high = confint(fit)["mm", 2],
       prop_bias_p = co["mm", "Pr(>|t|)"])
}
inter <- function(d) {
  out <- list(levels = list())
  if ("level" %in% names(d)) {
    for (lv in unique(d$level)) out$levels[[lv]] <- icc_rows(wide(d[d$level == lv, ], "reader"))
    ov <- overall(d)
  } else {
    ov <- d
  }
  w <- wide(ov, "reader")
  out$overall <- icc_rows(w)
  rd <- colnames(w)
  out$bland_altman <- list()
  for (i in seq_along(rd)) for (j in seq_along(rd)) if (i < j) {
    out$bland_altman[[paste(rd[i], "vs", rd[j])]] <- ba(w[, i], w[, j])
  }
  out$matrix <- w
  out
}
strip <- function(x) { x$matrix <- NULL; x }

res_two <- inter(two)
res_five <- inter(five)
res_rt <- inter(rt[rt$session == 1, ])
rt_intra <- list()
rt_ba <- list()
for (r in unique(rt$reader)) {
  w <- wide(rt[rt$reader == r, ], "session")
  rt_intra[[r]] <- icc_rows(w)
  rt_ba[[paste0(r, " session 1 vs ", r, " session 2")]] <- ba(w[, 1], w[, 2])
}
res_rt$intra <- rt_intra
res_rt$bland_altman <- c(res_rt$bland_altman, rt_ba)
sf_m <- wide(sf, "reader")
res_sf <- list(overall = icc_rows(sf_m))

# Bland & Altman (1986) Lancet, Table 1: PEFR (l/min), Wright vs mini Wright peak flow meter, first readings
pefr_w <- c(494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427)
pefr_m <- c(512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451)

wj(list(psych_version = as.character(packageVersion("psych")), r_version = R.version.string,
        two = strip(res_two), five = strip(res_five), retest = strip(res_rt), sf1979 = res_sf,
        pefr = ba(pefr_w, pefr_m)),
   "agreement_psych.json")

# ------------------------------------------------------------------------------------------------ irr (optional)
irr_src <- Sys.getenv("IRR_ICC_R")
have_irr <- requireNamespace("irr", quietly = TRUE)
if (have_irr || nzchar(irr_src)) {
  icc_fun <- if (have_irr) irr::icc else local({ e <- new.env(); sys.source(irr_src, envir = e); e$icc })
  irr_forms <- function(m) {
    x <- na.omit(m)
    forms <- list(c("oneway", "consistency", "single"), c("twoway", "agreement", "single"),
                  c("twoway", "consistency", "single"), c("oneway", "consistency", "average"),
                  c("twoway", "agreement", "average"), c("twoway", "consistency", "average"))
    lapply(forms, function(f) {
      r <- icc_fun(x, model = f[1], type = f[2], unit = f[3])
      list(name = if (f[1] == "oneway") paste("oneway", f[3]) else paste(f[1], f[2], f[3]),
           form = r$icc.name, icc = r$value, F = r$Fvalue, df1 = r$df1, df2 = r$df2, p = r$p.value,
           lower = r$lbound, upper = r$ubound)
    })
  }
  wj(list(irr = if (have_irr) as.character(packageVersion("irr")) else "0.84.1 (R/icc.R)",
          two_overall = irr_forms(res_two$matrix), five_overall = irr_forms(res_five$matrix),
          sf1979 = irr_forms(sf_m),
          anxiety = irr_forms(matrix(c(3, 3, 3, 4, 5, 5, 2, 3, 5, 2, 2, 6, 1, 5, 2, 2, 1, 2, 4, 3,
                                       3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4,
                                       2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2), ncol = 3))),
     "agreement_irr.json")
}
