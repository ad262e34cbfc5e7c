# report: a run's or a sweep's results drawn as one SVG page.
noinst_LTLIBRARIES += host/report/libreport.la
host_report_libreport_la_SOURCES = \
	%D%/report.c %D%/report.h \
	%D%/compare.c %D%/compare.h \
	%D%/report_run.c %D%/report_run.h \
	%D%/report_curves.c %D%/report_curves.h \
	%D%/report_runs.c %D%/report_runs.h \
	%D%/report_sweep.c %D%/report_sweep_load.c %D%/report_sweep.h \
	%D%/report_chart.c %D%/report_chart.h \
	%D%/svg.c %D%/svg.h
