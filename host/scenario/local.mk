# scenario: INI files, typed parameters, scenarios and where they (and plugins) are found.
host_liblethe_la_SOURCES += \
	%D%/ini.c %D%/ini.h \
	%D%/params.c %D%/params.h \
	%D%/scenario.c %D%/scenario_write.c %D%/scenario.h \
	%D%/paths.c %D%/paths.h
