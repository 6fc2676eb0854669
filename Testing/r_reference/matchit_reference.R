# R MatchIt reference outputs for Testing/test_matching*.py.
#
# Runs matchit(method = "nearest") under many settings on MatchIt's lalonde data
# (treat ~ age + educ + race + married + nodegree + re74 + re75) and on the synthetic cohorts written by
# make_synthetic_cohorts.py, and saves per data set one JSON file matchit_<data>.json with:
#   ps / logit            propensity score and linear predictor per id (glm logit, link = "linear.logit")
#   cases[[name]]         settings (Python match() keyword names), match_matrix {treated: [controls]} (all
#                         treated; [] = unmatched), weights (non-zero), subclass, caliper (distance units),
#                         nn (summary()$nn), sum_all / sum_matched (summary() balance, 7 columns)
# Usage: Rscript matchit_reference.R [OUTDIR]   (R 4.2, MatchIt 4.5.1, jsonlite)
suppressPackageStartupMessages({library(MatchIt); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
here <- local({
  a <- commandArgs(FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
})
outdir <- if (length(args) >= 1) args[1] else here
stopifnot(packageVersion("MatchIt") == "4.5.1")

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
              R = R.version.string, MatchIt = as.character(packageVersion("MatchIt")))
  f <- file.path(outdir, sprintf("matchit_%s.json", name))
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
run_data("synth_ties", read_synth("synth_ties"), treat ~ age + sex + bmi + smoking,
         syn_cases, categorical = list("sex", "smoking"))
sites_cases <- syn_cases; sites_cases$exact_sex <- NULL
sites_cases$exact_site <- case(exact = "site")
sites_cases$exact_site_diabetes_caliper02 <- case(exact = c("site", "diabetes"), caliper = 0.2)
run_data("synth_sites", read_synth("synth_sites"), treat ~ site + x1 + x2 + diabetes,
         sites_cases, categorical = list("site"))
few_cases <- list(default = case(), ratio2 = case(ratio = 2), smallest_ratio2 = case(order = "smallest", ratio = 2),
                  replace_ratio2 = case(replace = TRUE, ratio = 2), exact_sex = case(exact = "sex"))
run_data("synth_few_controls", read_synth("synth_few_controls"), treat ~ age + sex, few_cases,
         categorical = list("sex"))
