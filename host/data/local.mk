# data: data sets (idx files, plain or .gz; synthetic clusters) and the tasks cut from them.
host_liblethe_la_SOURCES += \
	%D%/dataset.c %D%/synth.c %D%/dataset.h \
	%D%/gz.c %D%/gz.h \
	%D%/tasks.c %D%/tasks.h
