# results: a run's files (metrics.json, accuracy.csv, curves.csv), its directory, its figures.
host_liblethe_la_SOURCES += \
	%D%/results.c %D%/results_load.c %D%/results.h \
	%D%/metrics.c %D%/metrics.h \
	%D%/curves.c %D%/curves.h \
	%D%/run_dir.c %D%/run_dir.h
host_liblethe_la_SOURCES += %D%/provenance.c %D%/provenance.h
nodist_host_liblethe_la_SOURCES = revision.h

# The git revision the binary is built from, when built from a checkout: rewritten only when it
# changes, so only provenance.c recompiles.
BUILT_SOURCES = revision.h
CLEANFILES += revision.h
revision.h: FORCE
	$(AM_V_GEN)rev=; if test -e $(top_srcdir)/.git; then \
		rev=$$(cd $(top_srcdir) && git describe --always --dirty 2>/dev/null); fi; \
	if test -n "$$rev"; then line="#define LETHE_REVISION \"$$rev\""; \
	else line="/* not built from a git checkout */"; fi; \
	test "$$(cat $@ 2>/dev/null)" = "$$line" || echo "$$line" >$@
FORCE:
.PHONY: FORCE
