# R MatchIt reference outputs for Testing/test_matching*.py.
#
# Runs matchit(method = "nearest") under many settings on MatchIt's lalonde data
# (treat ~ age + educ + race + married + nodegree + re74 + re75) and on the synthetic cohorts written by
# make_synthetic_cohorts.py, and saves per data set one JSON file matchit_<data>.json with:
#   ps / logit            propensity score and linear predictor per id (glm logit, link = "linear.logit")
#   ps17 / logit17        (fixed runs only) the same as strings with 17 significant digits: exact doubles
#   cases[[name]]         settings (Python match() keyword names), match_matrix {treated: [controls]} (all
#                         treated; [] = unmatched), weights (non-zero), subclass, caliper (distance units),
#                         nn (summary()$nn), sum_all / sum_matched (summary() balance, 7 columns)
# Usage: Rscript matchit_reference.R [OUTDIR]   (R 4.2, MatchIt 4.5.1 from Debian, jsonlite)
#
# Fixed MatchIt (>= 4.5.4, after the integer-abs caliper/tie bug #163 and the replace + ratio > 1 bug #159):
#   Rscript matchit_reference.R OUTDIR LIBDIR
# loads MatchIt from the private library LIBDIR (e.g. 4.5.5 built from kosukeimai/MatchIt tag 4.5.5 with
# `R CMD INSTALL --library=LIBDIR`, chk 0.9.2 beside it) and writes matchit_fixed_<data>.json instead, with
# the extra fixed-only cases below. Without LIBDIR the output is exactly the 4.5.1 fixtures as before.
# The committed matchit_fixed_*.json come from MatchIt 4.5.5 (kosukeimai/MatchIt commit 4cf6854) built with
# Debian's rlang 1.0.6: its DESCRIPTION asks rlang >= 1.1.0, lowered to >= 1.0.6 in the private build copy
# (the code only calls rlang::check_installed, is_formula, caller_call and call_name, all in 1.0.6).
# Linking needs Debian's libgfortran-12-dev, liblapack-dev and libblas-dev.
#   Rscript matchit_reference.R OUTDIR LIBDIR TAG   writes matchit_fixed_<TAG>_<data>.json: the committed
# matchit_fixed_472_*.json come from MatchIt 4.7.2 (commit ac853e7, chk 0.10.0, rlang lowered to >= 1.0.6 the
# same way: it also calls rlang::abort, warn, inform and with_options, all in 1.0.6).
args <- commandArgs(trailingOnly = TRUE)
here <- local({
  a <- commandArgs(FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
})
outdir <- if (length(args) >= 1 && nzchar(args[1])) args[1] else here
libdir <- if (length(args) >= 2) normalizePath(args[2]) else NULL
fixed <- !is.null(libdir)
if (fixed) .libPaths(c(libdir, .libPaths()))
suppressPackageStartupMessages({
  if (fixed) library(MatchIt, lib.loc = libdir) else library(MatchIt)
  library(jsonlite)
})
if (fixed) {
  stopifnot(packageVersion("MatchIt") >= "4.5.4",
            normalizePath(dirname(find.package("MatchIt"))) == libdir)
} else {
  stopifnot(packageVersion("MatchIt") == "4.5.1")
}
tag <- if (length(args) >= 3 && nzchar(args[3])) paste0(args[3], "_") else ""
prefix <- if (fixed) paste0("matchit_fixed_", tag) else "matchit_"

case <- function(distance = "ps", ratio = 1, caliper = NULL, std_caliper = TRUE, replace = FALSE,
                 exact = NULL, order = "largest", discard = "none") {
  list(distance = distance, ratio = ratio, caliper = caliper, std_caliper = std_caliper, replace = replace,
       exact = exact, order = order, discard = discard)
}

run_case <- function(fml, data, s) {
  ex <- if (is.null(s$exact)) NULL else reformulate(s$exact)
  m <- suppressWarnings(matchit(fml, data = data, method = "nearest", distance = "glm",
               link = if (s$distance == "logit") "linear.logit" else "logit",
               ratio = s$ratio, caliper = s$caliper, std.caliper = s$std_caliper, replace = s$replace,
               exact = ex, m.order = s$order, discard = s$discard))
  mm <- m$match.matrix
  mml <- lapply(seq_len(nrow(mm)), function(i) { v <- mm[i, ]; unname(as.list(v[!is.na(v)])) })
  names(mml) <- rownames(mm)
  sm <- summary(m)
  tab <- function(x) {
    x <- as.data.frame(x)
    lapply(setNames(seq_len(nrow(x)), rownames(x)), function(i) as.list(x[i, , drop = TRUE]))
  }
  w <- m$weights[m$weights > 0]
  list(settings = s,
       match_matrix = mml,
       weights = as.list(w),
       subclass = if (is.null(m$subclass)) NULL else as.list(setNames(as.integer(as.character(m$subclass[!is.na(m$subclass)])),
                                                                       names(m$subclass)[!is.na(m$subclass)])),
       caliper = if (is.null(m$caliper)) NULL else unname(m$caliper),
       nn = tab(sm$nn), sum_all = tab(sm$sum.all), sum_matched = tab(sm$sum.matched))
}

run_data <- function(name, data, fml, cases, categorical) {
  base <- matchit(fml, data = data, method = NULL, distance = "glm")
  lin <- matchit(fml, data = data, method = NULL, distance = "glm", link = "linear.logit")
  res <- list(data = name, formula = deparse(fml), covariates = attr(terms(fml), "term.labels"),
              categorical = categorical, ps = as.list(setNames(base$distance, rownames(data))),
              logit = as.list(setNames(lin$distance, rownames(data))),
              coef = as.list(coef(base$model)),
              cases = lapply(cases, function(s) run_case(fml, data, s)),
              R = R.version.string, MatchIt = as.character(packageVersion("MatchIt")),
              MatchIt_build = if (fixed) list(
                built = packageDescription("MatchIt")$Built,
                imports = packageDescription("MatchIt")$Imports,
                chk = as.character(packageVersion("chk")),
                rlang = as.character(packageVersion("rlang"))))
  if (fixed) {  # exact doubles (17 significant digits; jsonlite's digits = NA keeps only 15)
    res$ps17 <- as.list(setNames(sprintf("%.17g", base$distance), rownames(data)))
    res$logit17 <- as.list(setNames(sprintf("%.17g", lin$distance), rownames(data)))
  } else {
    res$MatchIt_build <- NULL  # keep the 4.5.1 fixtures byte-identical
  }
  f <- file.path(outdir, sprintf("%s%s.json", prefix, name))
  writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, null = "null", pretty = FALSE), f)
  cat("wrote", f, "\n")
}

# --- lalonde ---------------------------------------------------------------------------------------------
data("lalonde", package = "MatchIt")
f_lal <- treat ~ age + educ + race + married + nodegree + re74 + re75
lal_cases <- list(
  default = case(),
  logit = case(distance = "logit"),
  caliper02 = case(caliper = 0.2),
  caliper01 = case(caliper = 0.1),
  logit_caliper02 = case(distance = "logit", caliper = 0.2),
  logit_caliper01 = case(distance = "logit", caliper = 0.1),
  ratio2 = case(ratio = 2),
  ratio3 = case(ratio = 3),
  logit_ratio2_caliper02 = case(distance = "logit", ratio = 2, caliper = 0.2),
  replace = case(replace = TRUE),
  replace_ratio2 = case(replace = TRUE, ratio = 2),
  replace_caliper01 = case(replace = TRUE, caliper = 0.1),
  exact_race = case(exact = "race"),
  exact_married = case(exact = "married"),
  exact_race_married_caliper02 = case(exact = c("race", "married"), caliper = 0.2),
  smallest = case(order = "smallest"),
  data_order = case(order = "data"),
  smallest_ratio2 = case(order = "smallest", ratio = 2),
  raw_caliper005 = case(caliper = 0.05, std_caliper = FALSE),
  discard_both = case(discard = "both"),
  discard_control_caliper02 = case(discard = "control", caliper = 0.2),
  combo = case(distance = "logit", ratio = 2, caliper = 0.2, exact = "married", order = "smallest")
)
# fixed-only extra cases: the settings where 4.5.1 went wrong (replace with ratio > 1, calipers < 1 with
# replacement / exact / discard), and exact with ratio > 1 (also fixed in 4.5.3)
if (fixed) lal_cases <- c(lal_cases, list(
  replace_ratio3 = case(replace = TRUE, ratio = 3),
  replace_ratio2_caliper01 = case(replace = TRUE, ratio = 2, caliper = 0.1),
  logit_replace_ratio2_caliper02 = case(distance = "logit", replace = TRUE, ratio = 2, caliper = 0.2),
  exact_race_ratio2 = case(exact = "race", ratio = 2),
  exact_race_ratio3_caliper01 = case(exact = "race", ratio = 3, caliper = 0.1),
  discard_treated_caliper005 = case(discard = "treated", caliper = 0.05),
  smallest_ratio2_caliper005 = case(order = "smallest", ratio = 2, caliper = 0.05),
  raw_caliper001_ratio2 = case(caliper = 0.01, std_caliper = FALSE, ratio = 2)
))
run_data("lalonde", lalonde, f_lal, lal_cases, categorical = list("race"))

# --- synthetic cohorts -----------------------------------------------------------------------------------
read_synth <- function(name) {
  d <- read.csv(file.path(here, paste0(name, ".csv")), stringsAsFactors = FALSE)
  rownames(d) <- as.character(d$id)
  d
}
syn_cases <- list(
  default = case(),
  logit_caliper02 = case(distance = "logit", caliper = 0.2),
  ratio2 = case(ratio = 2),
  replace = case(replace = TRUE),
  smallest = case(order = "smallest"),
  data_order = case(order = "data"),
  exact_sex = case(exact = "sex"),
  logit_ratio3_caliper01 = case(distance = "logit", ratio = 3, caliper = 0.1)
)
if (fixed) syn_cases <- c(syn_cases, list(
  caliper02 = case(caliper = 0.2),
  replace_ratio2 = case(replace = TRUE, ratio = 2),
  replace_ratio2_caliper01 = case(replace = TRUE, ratio = 2, caliper = 0.1)
))
run_data("synth_ties", read_synth("synth_ties"), treat ~ age + sex + bmi + smoking,
         syn_cases, categorical = list("sex", "smoking"))
sites_cases <- syn_cases; sites_cases$exact_sex <- NULL
sites_cases$exact_site <- case(exact = "site")
sites_cases$exact_site_diabetes_caliper02 <- case(exact = c("site", "diabetes"), caliper = 0.2)
run_data("synth_sites", read_synth("synth_sites"), treat ~ site + x1 + x2 + diabetes,
         sites_cases, categorical = list("site"))
few_cases <- list(default = case(), ratio2 = case(ratio = 2), smallest_ratio2 = case(order = "smallest", ratio = 2),
                  replace_ratio2 = case(replace = TRUE, ratio = 2), exact_sex = case(exact = "sex"))
if (fixed) few_cases <- c(few_cases, list(
  caliper02 = case(caliper = 0.2),
  replace_ratio3_caliper02 = case(replace = TRUE, ratio = 3, caliper = 0.2),
  exact_sex_ratio2 = case(exact = "sex", ratio = 2)
))
run_data("synth_few_controls", read_synth("synth_few_controls"), treat ~ age + sex, few_cases,
         categorical = list("sex"))
