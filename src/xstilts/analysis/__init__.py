"""Analysis and report code (`report`, `study@*` stages): reads metrics and predictions,
imports no torch; a change here leaves every training and evaluation stage up to date."""
